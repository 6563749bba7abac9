package io.rankfeed.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

/** The leading fields read without a full decode: they must follow the contract's field order. */
class LeadingFieldsTest {
    private final LeadingFields.Reader reader = new LeadingFields.Reader();

    @Test
    void readsEventIdSessionAndTimeFromContractBytes() {
        byte[] bytes = Actions.click("evt-1", 1_700_000_000_123L, "q1", "h1", 1).session("sess-9").bytes();
        LeadingFields fields = reader.read(bytes);
        assertEquals("evt-1", fields.eventId);
        assertEquals("sess-9", fields.sessionId);
        assertEquals(1_700_000_000_123L, fields.timeMillis);
    }

    @Test
    void unreadableBytesGiveNull() {
        assertNull(reader.read(null));
        assertNull(reader.read(new byte[0]));
        assertNull(reader.read(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01}));
    }

    @Test
    void theRawActionOfUnreadableBytesHasNoSessionAndTimeZero() {
        RawAction raw = new RawAction(new byte[] {1}, 0, 0, reader.read(new byte[] {1}));
        assertNull(raw.sessionId);
        assertNull(raw.eventId);
        assertEquals(RawAction.UNREADABLE_TIME, raw.eventTime);
    }
}
