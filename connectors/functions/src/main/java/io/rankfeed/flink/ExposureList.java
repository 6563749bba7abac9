package io.rankfeed.flink;

/**
 * One search-exposures record as the features job uses it: the hotels of one result list in
 * parallel arrays, the session's close as event time. A record without hotels is a watermark
 * beacon. A Flink POJO (public fields, arrays of primitives and strings), so nothing uses Kryo.
 */
public class ExposureList {
    public String destination;
    /** null when unknown, as in the contract. */
    public Boolean randomized;
    /** Event time: when the session closed. */
    public long closedAt;
    /** The labelling task's watermark the record carries, or null. */
    public Long labellerWatermark;
    public String[] hotelIds = new String[0];
    public int[] positions = new int[0];
    public boolean[] examined = new boolean[0];
    /** book, click, quick_back, or null when not clicked. */
    public String[] outcomes = new String[0];
    /** Dwell of the hotel's last click, NaN when none. */
    public double[] dwellSeconds = new double[0];

    public ExposureList() {}

    boolean isBeacon() {
        return hotelIds.length == 0;
    }
}
