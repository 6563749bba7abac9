package io.rankfeed.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

/** The state's serializer keeps every field of every class the session holds. */
class LabellingSessionSerializerTest {

    /** A session whose every field (nested ones included) is set to something other than its default. */
    static LabellingSession full() {
        LabellingSession s = new LabellingSession();
        s.open = true;
        s.sessionId = "s1";
        s.userId = "u1";
        s.device = "mobile";
        s.start = 1_000;
        s.end = 9_000;
        s.actions = 5;
        s.searches = 1;
        s.clicks = 2;
        s.books = 1;
        s.quickBacks = 1;
        s.timer = 12_345;
        ResultList list = new ResultList();
        list.searchId = "q1";
        list.time = 1_000;
        list.query = "berlin";
        list.randomized = true;
        list.scrollDepth = 7;
        list.shown.add(new Action.Shown("h1", 1, 99.5, 4.5));
        ResultList.Outcome outcome = list.outcome("h1");
        outcome.clicked = true;
        outcome.kept = true;
        outcome.booked = true;
        outcome.dwellSeconds = 12.5;
        s.inlineLists.add(list); // as restored from layout 1
        s.listKeys.add("q1");
        LabellingSession.OpenClick click = new LabellingSession.OpenClick();
        click.eventId = "e2";
        click.searchId = "q1";
        click.hotelId = "h1";
        click.position = 1;
        click.time = 2_000;
        click.clientDuration = 3.5;
        click.decided = true;
        s.openClick = click;
        Action action = new Action();
        action.eventId = "e3";
        action.time = 3_000;
        action.raw = new byte[] {1, 2, 3};
        action.sourcePartition = 4;
        action.sourceOffset = 44;
        action.sessionId = "s1";
        action.type = "search";
        action.userId = "u1";
        action.device = "mobile";
        action.searchId = "q2";
        action.query = "paris";
        action.hotelId = "h2";
        action.position = 2;
        action.duration = 1.5;
        action.scrollDepth = 3;
        action.randomized = true;
        action.shown = new Action.Shown[] {new Action.Shown("h2", 2, 50.0, 3.0)};
        s.pending.add(action);
        s.seen.add("e1");
        s.seen.add("e3");
        return s;
    }

    private static LabellingSession roundTrip(LabellingSession session) throws Exception {
        DataOutputSerializer out = new DataOutputSerializer(64);
        LabellingSessionSerializer.INSTANCE.serialize(session, out);
        return LabellingSessionSerializer.INSTANCE.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
    }

    @Test
    void theFixtureSetsEveryField() throws Exception {
        List<String> unset = new ArrayList<>();
        unsetFields(full(), "session", unset);
        assertEquals(List.of(), unset, "a field was added: set it in full() and write it in the serializer");
    }

    @Test
    void everyFieldSurvivesARoundTrip() throws Exception {
        LabellingSession session = full();
        assertDeepEquals(session, roundTrip(session), "session");
    }

    @Test
    void nullsAndEmptiesSurviveARoundTrip() throws Exception {
        LabellingSession session = new LabellingSession();
        ResultList list = new ResultList();
        list.searchId = "q1";
        session.inlineLists.add(list);
        session.listKeys.add("q1");
        assertDeepEquals(session, roundTrip(session), "session");
        assertDeepEquals(list, roundTripList(list), "list");
    }

    @Test
    void aListSurvivesARoundTrip() throws Exception {
        ResultList list = full().inlineLists.get(0);
        assertDeepEquals(list, roundTripList(list), "list");
    }

    @Test
    void aCopyIsDeepAndIndependent() {
        LabellingSession session = full();
        LabellingSession copy = LabellingSessionSerializer.INSTANCE.copy(session);
        assertDeepEquals(session, copy, "session");
        assertNotSame(session.inlineLists.get(0), copy.inlineLists.get(0));
        copy.inlineLists.get(0).outcomes.get(0).booked = false;
        copy.seen.add("e9");
        assertTrue(session.inlineLists.get(0).outcomes.get(0).booked, "the original is untouched");
        assertFalse(session.seen.contains("e9"));
    }

    @Test
    void aLayout1SessionMovesItsListsToTheStore() throws Exception {
        LabellingSession session = full();
        session.listKeys.clear(); // layout 1 had no keys
        DataOutputSerializer out = new DataOutputSerializer(64);
        LabellingSessionSerializer.Layout1.INSTANCE.serialize(full(), out);
        LabellingSession restored =
                LabellingSessionSerializer.Layout1.INSTANCE.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
        assertEquals(List.of("q1"), restored.listKeys, "layout 1's inline lists are named");

        ResultListStore.InMemory store = new ResultListStore.InMemory();
        restored.attach(store);
        assertEquals("berlin", restored.resultList("q1").query);
        restored.flushLists();
        assertEquals(List.of(), restored.inlineLists);
        assertDeepEquals(full().inlineLists.get(0), store.lists.get("q1"), "moved list");
        LabellingSession again = roundTrip(restored);
        assertEquals(List.of(), again.inlineLists, "layout 2 writes the keys only");
        assertEquals(List.of("q1"), again.listKeys);
    }

    @Test
    void layout2RestoresLayout1ByMigration() {
        assertTrue(new LabellingSessionSerializer.Snapshot2()
                .resolveSchemaCompatibility(new LabellingSessionSerializer.Snapshot())
                .isCompatibleAfterMigration());
        assertTrue(new LabellingSessionSerializer.Snapshot2()
                .resolveSchemaCompatibility(new LabellingSessionSerializer.Snapshot2())
                .isCompatibleAsIs());
        assertSame(LabellingSessionSerializer.Layout1.INSTANCE,
                new LabellingSessionSerializer.Snapshot().restoreSerializer());
    }

    @Test
    void aStepReadsOnlyTheListsItTouches() {
        ResultListStore.InMemory store = new ResultListStore.InMemory();
        LabellingSession session = new LabellingSession();
        session.attach(store);
        for (String key : List.of("q1", "q2")) {
            ResultList list = new ResultList();
            list.searchId = key;
            session.addList(list);
        }
        session.flushLists();
        assertEquals(2, store.lists.size());
        store.lists.get("q1").query = "stored";
        assertEquals("q2", session.resultList(null).searchId, "no search_id: the latest list");
        assertEquals("stored", session.resultList("q1").query, "read from the store");
        session.clearLists();
        assertEquals(0, store.lists.size());
        assertEquals(null, session.resultList("q1"));
    }

    private static ResultList roundTripList(ResultList list) throws Exception {
        DataOutputSerializer out = new DataOutputSerializer(64);
        ResultListSerializer.INSTANCE.serialize(list, out);
        return ResultListSerializer.INSTANCE.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
    }

    private static void unsetFields(Object object, String path, List<String> unset) throws Exception {
        for (Field field : fields(object.getClass())) {
            Object value = field.get(object);
            String at = path + "." + field.getName();
            if (value == null || value.equals(0) || value.equals(0L) || value.equals(false)
                    || (value instanceof Collection<?> && ((Collection<?>) value).isEmpty())
                    || (value instanceof Object[] && ((Object[]) value).length == 0)) {
                unset.add(at);
            } else if (value instanceof Collection<?>) {
                for (Object item : (Collection<?>) value) {
                    if (isOurs(item)) {
                        unsetFields(item, at + "[]", unset);
                    }
                }
            } else if (value instanceof Object[]) {
                for (Object item : (Object[]) value) {
                    unsetFields(item, at + "[]", unset);
                }
            } else if (isOurs(value)) {
                unsetFields(value, at, unset);
            }
        }
    }

    private static void assertDeepEquals(Object expected, Object actual, String path) {
        if (expected == null || actual == null || !isOurs(expected)) {
            if (expected instanceof byte[]) {
                assertTrue(Arrays.equals((byte[]) expected, (byte[]) actual), path);
            } else if (expected instanceof Object[]) {
                assertDeepEquals(Arrays.asList((Object[]) expected), Arrays.asList((Object[]) actual), path);
            } else if (expected instanceof List<?>) {
                List<?> list = (List<?>) expected;
                List<?> other = (List<?>) actual;
                assertEquals(list.size(), other.size(), path);
                for (int i = 0; i < list.size(); i++) {
                    assertDeepEquals(list.get(i), other.get(i), path + "[" + i + "]");
                }
            } else {
                assertEquals(expected, actual, path);
            }
            return;
        }
        try {
            for (Field field : fields(expected.getClass())) {
                assertDeepEquals(field.get(expected), field.get(actual), path + "." + field.getName());
            }
        } catch (IllegalAccessException e) {
            throw new AssertionError(e);
        }
    }

    private static boolean isOurs(Object value) {
        return value.getClass().getName().startsWith("io.rankfeed.flink.");
    }

    private static List<Field> fields(Class<?> type) {
        List<Field> fields = new ArrayList<>();
        for (Field field : type.getDeclaredFields()) {
            if (!Modifier.isStatic(field.getModifiers()) && !Modifier.isTransient(field.getModifiers())) {
                field.setAccessible(true);
                fields.add(field);
            }
        }
        return fields;
    }
}
