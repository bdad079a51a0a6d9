package io.roster.eureka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.roster.spi.Http;

import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Talks to a Eureka server directly, as another client (Spring, Netflix, Go) would, to check what the registry
 * wrote and to write records it must read. On {@link Http}, whose {@link #close()} closes its connections and
 * threads at once (the JDK client's stay until it is garbage-collected, and other tests count both).
 */
final class RawEureka implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Http http;

    RawEureka(URI base) {
        this.http = Http.builder(base).maxConnections(4).timeout(Duration.ofSeconds(30))
                .header("Accept", "application/json").threadName("test-raw-eureka").build();
    }

    /** Registers an instance given as Eureka JSON ({@code {"instance":{...}}}). */
    void register(String app, String json) {
        int status = send(Http.Request.json("POST", "apps/" + app, json)).status();
        if (status != 204) {
            throw new IllegalStateException("register " + app + " returned HTTP " + status);
        }
    }

    /** Removes an instance behind its registrar's back, as an eviction would. */
    int delete(String app, String instanceId) {
        return send(Http.Request.json("DELETE", "apps/" + app + "/" + Http.pathSegment(instanceId), "")).status();
    }

    /** Sets an instance's status override, as an operator would ({@code OUT_OF_SERVICE}, ...). */
    int status(String app, String instanceId, String status) {
        return send(Http.Request.json("PUT", "apps/" + app + "/" + Http.pathSegment(instanceId) + "/status?value="
                + status, "")).status();
    }

    /** Returns the instances of an application as the server lists them; empty when it knows none. */
    List<JsonNode> instances(String app) {
        Http.Response response = send(Http.Request.get("apps/" + app));
        List<JsonNode> out = new ArrayList<>();
        if (response.status() == 404) {
            return out;
        }
        try {
            JSON.readTree(response.body()).path("application").path("instance").forEach(out::add);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out;
    }

    private Http.Response send(Http.Request request) {
        try {
            return http.send(request);
        } catch (IOException e) {
            throw new IllegalStateException(request + " failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        http.close();
    }
}
