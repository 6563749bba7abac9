package io.rankfeed.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The features job's configuration: every key required but the propensity table, none unknown. */
class FeaturesConfigTest {

    @Test
    void theDocumentPythonWritesIsRead() {
        FeaturesConfig config = Exposures.defaults();
        assertEquals("hotel-features", config.topics.hotelFeatures);
        assertEquals(Exposures.INTERVAL, config.features.emitIntervalMs);
        assertEquals(3, config.propensities.maxPosition);
        assertNull(config.propensity);
        assertEquals(0.5, config.examination().theta(2), 1e-12, "without a table θ_k = (1/k)^η");
    }

    @Test
    void aPropensityTableDebiasesTheFeatures() {
        Map<String, Object> doc = Exposures.document();
        doc.put("propensity", Configs.propensity("randomized-x", List.of(1.0, 0.4), 10.0));
        FeaturesConfig config = Exposures.config(doc);
        assertArrayEquals(new double[] {1.0, 0.4}, config.examination().table);
        assertEquals(0.4, config.examination().theta(7), 0.0, "past the table's end the last θ applies");
    }

    @Test
    void aMissingNestedKeyIsNamed() {
        Map<String, Object> doc = Exposures.document();
        ((Map<?, ?>) doc.get("propensities")).remove("window_ms");
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> Exposures.config(doc));
        assertTrue(error.getMessage().contains("propensities.window_ms"), error.getMessage());
    }

    @Test
    void anUnknownKeyIsRefusedByName() {
        Map<String, Object> doc = Exposures.document();
        doc.put("emit_interval_seconds", 5);
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> Exposures.config(doc));
        assertTrue(error.getMessage().contains("emit_interval_seconds"), error.getMessage());
    }
}
