package io.rankfeed.flink;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.util.Collector;

/** One hotel of one result list, on its way to the hotel's features. A Flink POJO. */
public class HotelExposure {
    public String hotelId;
    public String destination;
    public int position;
    public boolean examined;
    /** book, click, quick_back or null. */
    public String outcome;
    /** Dwell of the last click, NaN when none. */
    public double dwellSeconds;
    /** Event time: the session's close. */
    public long at;

    public HotelExposure() {}

    /** Every hotel of a list (a beacon has none), in the order reported. */
    public static final class Split implements FlatMapFunction<ExposureList, HotelExposure> {
        private static final long serialVersionUID = 1L;

        @Override
        public void flatMap(ExposureList list, Collector<HotelExposure> out) {
            for (int i = 0; i < list.hotelIds.length; i++) {
                HotelExposure exposure = new HotelExposure();
                exposure.hotelId = list.hotelIds[i];
                exposure.destination = list.destination;
                exposure.position = list.positions[i];
                exposure.examined = list.examined[i];
                exposure.outcome = list.outcomes[i];
                exposure.dwellSeconds = list.dwellSeconds[i];
                exposure.at = list.closedAt;
                out.collect(exposure);
            }
        }
    }
}
