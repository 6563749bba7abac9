package io.rankfeed.flink;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * How a job's configuration crosses from Python into the JVM: one JSON document written from the
 * typed {@code JobSettings}, read into public {@link JsonProperty} fields. Defaults live only on the
 * Python side: an unknown key or a missing one fails the job at submission with the key's name.
 */
final class ConfigDocument {
    private ConfigDocument() {}

    /**
     * Parses {@code json} into {@code type}; {@code optional} names the keys (dotted paths) that may
     * be absent. The message names every unknown or missing key and {@code what} was read.
     */
    static <T> T parse(String json, Class<T> type, String what, Set<String> optional) {
        ObjectMapper mapper = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
        T config;
        try {
            config = mapper.readValue(json, type);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("the " + what + " is not valid: " + e.getOriginalMessage(), e);
        }
        List<String> missing = new ArrayList<>();
        missing(config, "", optional, missing);
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("the " + what + " lacks " + String.join(", ", missing));
        }
        return config;
    }

    private static void missing(Object node, String path, Set<String> optional, List<String> missing) {
        for (Field field : node.getClass().getFields()) {
            JsonProperty property = field.getAnnotation(JsonProperty.class);
            if (property == null) {
                continue;
            }
            Object value;
            try {
                value = field.get(node);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
            String name = path + property.value();
            if (value == null && !optional.contains(name)) {
                missing.add(name);
            } else if (value != null && value.getClass().getPackage() == ConfigDocument.class.getPackage()) {
                missing(value, name + ".", optional, missing);
            }
        }
    }
}
