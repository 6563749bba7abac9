// The demo site's pages: a search with a ranked result list, a hotel page and its book button, all tracked.
(() => {
  const config = window.RANKFEED_CONFIG;
  // Tests and curious developers may set window.RANKFEED_OVERRIDES before this runs.
  const options = { ...config.tracker, ...(window.RANKFEED_OVERRIDES || {}) };
  window.rankfeedEvents = [];
  const tracker = rankfeed.createTracker({
    endpoint: config.endpoint,
    writeKey: config.writeKey,
    onEvent: (event) => window.rankfeedEvents.push(event),
    ...options,
  });
  window.rankfeedTracker = tracker;
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const status = (text) => ($("status").textContent = text);
  status(`events go to ${config.endpoint}`);

  async function searchPage() {
    const query = params.get("q");
    if (!query) return (document.body.dataset.ready = "true");
    $("query").value = query;
    const answer = await (await fetch(`/api/search?q=${encodeURIComponent(query)}`)).json();
    // Back (or reload) to this list: the same search_id and no new search event; a new query is a new search.
    const navigation = performance.getEntriesByType("navigation")[0];
    const last = JSON.parse(sessionStorage.getItem("demo:search") || "null");
    const again = last && last.query === query && navigation && navigation.type !== "navigate";
    const searchId = again ? last.searchId : tracker.search(query);
    sessionStorage.setItem("demo:search", JSON.stringify({ query, searchId }));
    $("summary").textContent = answer.hotels.length
      ? `${answer.hotels.length} hotels in ${query}, ${answer.ranked_by === "rerank" ? "ranked by the re-rank endpoint" : "in catalogue order (the re-rank endpoint is not up)"}`
      : `no hotels for "${query}": try Paris, Rome or Berlin`;
    const cards = answer.hotels.map((hotel, index) => {
      const position = index + 1;
      const card = document.createElement("li");
      card.className = "card";
      card.dataset.position = String(position);
      card.id = `hotel-${position}`;
      card.innerHTML = `<div><h2></h2><span class="rating"></span></div><span class="price"></span>`;
      card.querySelector("h2").textContent = `${position}. ${hotel.name}`;
      card.querySelector(".rating").textContent = `★ ${hotel.rating.toFixed(1)}`;
      card.querySelector(".price").textContent = `€${hotel.price.toFixed(0)}`;
      const shown = { hotel_id: hotel.hotel_id, position, price: hotel.price, rating: hotel.rating };
      card.addEventListener("click", () => {
        tracker.click(searchId, shown);
        const target = new URLSearchParams({ ...shown, search_id: searchId, name: hotel.name });
        location.href = `/hotel?${target}`;
      });
      card.hotel = shown;
      return card;
    });
    $("results").replaceChildren(...cards);
    tracker.observe(searchId, cards, (card) => card.hotel);
    document.body.dataset.ready = "true";
  }

  function hotelPage() {
    const searchId = params.get("search_id");
    const hotel = {
      hotel_id: params.get("hotel_id"),
      position: Number(params.get("position")),
      price: Number(params.get("price")),
      rating: Number(params.get("rating")),
    };
    $("name").textContent = params.get("name");
    $("details").textContent = `★ ${hotel.rating.toFixed(1)} · €${hotel.price.toFixed(0)} per night · shown at position ${hotel.position}`;
    $("back").addEventListener("click", (event) => {
      event.preventDefault();
      history.back();
    });
    $("book").addEventListener("click", () => {
      tracker.book(searchId, hotel);
      $("book").disabled = true;
      $("booked").hidden = false;
    });
    document.body.dataset.ready = "true";
  }

  (location.pathname === "/hotel" ? hotelPage : searchPage)();
})();
