package io.rankfeed.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The JSON document from Python: every key required (propensity optional), none unknown, failures name the key. */
class LabellingConfigTest {

    @SuppressWarnings("unchecked")
    private static Map<String, Object> section(Map<String, Object> doc, String name) {
        return (Map<String, Object>) doc.get(name);
    }

    private static String failure(Map<String, Object> doc) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Configs.parse(doc));
        return e.getMessage();
    }

    @Test
    void parsesTheDocument() {
        LabellingConfig config = Configs.defaults();
        assertEquals("localhost:9092", config.kafka.bootstrapServers);
        assertEquals("rankfeed-labelling", config.kafka.consumerGroup);
        assertEquals("earliest-offset", config.kafka.startupMode);
        assertEquals(900_000, config.kafka.transactionTimeoutMs);
        assertEquals("user-actions", config.topics.userActions);
        assertEquals("user-actions-clean", config.topics.clean);
        assertEquals("user-actions-dlq", config.topics.dlq);
        assertEquals(1, config.labels.click);
        assertEquals(2, config.labels.book);
        assertEquals(0, config.labels.ignore);
        assertEquals(-1, config.labels.quickBack);
        assertEquals(5_000L, config.watermarkDelayMs);
        assertEquals(30_000L, config.sourceIdleTimeoutMs);
        assertEquals(10_000L, config.quickBackThresholdMs);
        assertEquals(1_800_000L, config.sessionGapMs);
        assertEquals(0, config.noClickTopK);
        assertNull(config.propensity, "propensity is optional");
        assertNull(config.theta(1));
    }

    @Test
    void thetaByPositionWithTheLastValuePastTheEnd() {
        Map<String, Object> doc = Configs.document();
        doc.put("propensity", Configs.propensity("v1", List.of(0.9, 0.6, 0.3), 20.0));
        LabellingConfig config = Configs.parse(doc);
        assertEquals("v1", config.propensity.version);
        assertEquals(20.0, config.propensity.maxWeight);
        assertEquals(0.9, config.theta(1));
        assertEquals(0.6, config.theta(2));
        assertEquals(0.3, config.theta(3));
        assertEquals(0.3, config.theta(50));
        assertEquals(0.9, config.theta(0), "positions below 1 take θ_1");
    }

    @Test
    void anUnknownTopLevelKeyFailsNamingIt() {
        Map<String, Object> doc = Configs.document();
        doc.put("session_gap_minutes", 30);
        String message = failure(doc);
        assertTrue(message.contains("session_gap_minutes"), message);
    }

    @Test
    void anUnknownNestedKeyFailsNamingIt() {
        Map<String, Object> doc = Configs.document();
        section(doc, "labels").put("skip", 0);
        String message = failure(doc);
        assertTrue(message.contains("skip"), message);
    }

    @Test
    void aMissingTopLevelKeyFailsNamingIt() {
        Map<String, Object> doc = Configs.document();
        doc.remove("session_gap_ms");
        String message = failure(doc);
        assertTrue(message.contains("session_gap_ms"), message);
    }

    @Test
    void aMissingNestedKeyFailsWithItsPath() {
        Map<String, Object> doc = Configs.document();
        section(doc, "kafka").remove("consumer_group");
        String message = failure(doc);
        assertTrue(message.contains("kafka.consumer_group"), message);
    }

    @Test
    void everyMissingKeyIsNamedAndNullCountsAsMissing() {
        Map<String, Object> doc = Configs.document();
        doc.remove("topics");
        doc.remove("no_click_top_k");
        section(doc, "labels").put("quick_back", null);
        String message = failure(doc);
        assertTrue(message.contains("topics"), message);
        assertTrue(message.contains("no_click_top_k"), message);
        assertTrue(message.contains("labels.quick_back"), message);
    }

    @Test
    void aPropensityTableWithoutMaxWeightFailsNamingTheKey() {
        Map<String, Object> doc = Configs.document();
        Map<String, Object> propensity = Configs.propensity("v1", List.of(0.9, 0.5), 10.0);
        propensity.remove("max_weight");
        doc.put("propensity", propensity);
        String message = failure(doc);
        assertTrue(message.contains("propensity.max_weight"), message);
    }

    @Test
    void notJsonFails() {
        assertThrows(IllegalArgumentException.class, () -> LabellingConfig.parse("{not json"));
    }
}
