package io.roster.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.roster.ServiceInstance;
import io.roster.spi.Inspection;
import io.roster.spi.RegistryUri;

import java.io.PrintWriter;
import java.net.URI;
import java.util.List;

/**
 * The {@code --json} output. Field names are stable (scripts depend on them); new fields may be added. Endpoints
 * and record texts have their user info masked, like everything the command prints.
 */
final class Json {
    private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final ObjectMapper COMPACT = new ObjectMapper();

    private Json() {
    }

    static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    /** {@code {"id","name","version","metadata":{...},"endpoints":[...]}}. */
    static ObjectNode instance(ServiceInstance instance) {
        ObjectNode node = object();
        node.put("id", instance.id());
        node.put("name", instance.name());
        node.put("version", instance.version());
        ObjectNode metadata = node.putObject("metadata");
        instance.metadata().forEach(metadata::put);
        ArrayNode endpoints = node.putArray("endpoints");
        for (URI endpoint : instance.endpoints()) {
            endpoints.add(RegistryUri.redact(endpoint.toString()));
        }
        return node;
    }

    static ArrayNode instances(ObjectNode parent, String field, List<ServiceInstance> instances) {
        ArrayNode array = parent.putArray(field);
        instances.forEach(i -> array.add(instance(i)));
        return array;
    }

    /**
     * {@code {"layout","raw","note","clean","records":[{"location","service","text","instance","problems":[kind]}],
     * "problems":[{"location","kind","detail"}]}}.
     */
    static void inspection(ObjectNode node, Inspection inspection) {
        node.put("layout", inspection.layout());
        node.put("raw", inspection.raw());
        node.put("note", inspection.note().orElse(null));
        node.put("clean", inspection.isClean());
        ArrayNode records = node.putArray("records");
        for (Inspection.Record record : inspection.records()) {
            ObjectNode r = records.addObject();
            r.put("location", record.location());
            r.put("service", record.service());
            r.put("text", Text.masked(record.text()));
            if (record.instance().isPresent()) {
                r.set("instance", instance(record.instance().get()));
            } else {
                r.putNull("instance");
            }
            ArrayNode kinds = r.putArray("problems");
            inspection.problemsAt(record.location()).forEach(p -> kinds.add(p.kind().code()));
        }
        ArrayNode problems = node.putArray("problems");
        for (Inspection.Problem problem : inspection.problems()) {
            ObjectNode p = problems.addObject();
            p.put("location", problem.location());
            p.put("kind", problem.kind().code());
            p.put("detail", Text.masked(problem.detail()));
        }
    }

    /** Pretty-printed, for one document per command. */
    static void print(PrintWriter out, ObjectNode node) {
        out.println(write(MAPPER, node));
        out.flush();
    }

    /** On one line, for a stream of events (JSON Lines). */
    static void printLine(PrintWriter out, ObjectNode node) {
        out.println(write(COMPACT, node));
        out.flush();
    }

    private static String write(ObjectMapper mapper, ObjectNode node) {
        try {
            return mapper.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a tree of strings cannot fail to serialise", e);
        }
    }
}
