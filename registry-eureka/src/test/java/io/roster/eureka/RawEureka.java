package io.roster.eureka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.roster.spi.DaemonThreadFactory;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Talks to a Eureka server directly, as another client (Spring, Netflix, Go) would, to check what the registry
 * wrote and to write records it must read.
 */
final class RawEureka implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI base;
    private final ExecutorService executor = Executors.newCachedThreadPool(new DaemonThreadFactory("test-raw-eureka"));
    private final HttpClient http = HttpClient.newBuilder().executor(executor).build();

    RawEureka(URI base) {
        this.base = base;
    }

    /** Registers an instance given as Eureka JSON ({@code {"instance":{...}}}). */
    void register(String app, String json) {
        int status = send("POST", "apps/" + app, json).statusCode();
        if (status != 204) {
            throw new IllegalStateException("register " + app + " returned HTTP " + status);
        }
    }

    /** Removes an instance behind its registrar's back, as an eviction would. */
    int delete(String app, String instanceId) {
        return send("DELETE", "apps/" + app + "/" + io.roster.spi.Http.pathSegment(instanceId), null).statusCode();
    }

    /** Sets an instance's status override, as an operator would ({@code OUT_OF_SERVICE}, ...). */
    int status(String app, String instanceId, String status) {
        return send("PUT", "apps/" + app + "/" + io.roster.spi.Http.pathSegment(instanceId) + "/status?value=" + status, null)
                .statusCode();
    }

    /** Returns the instances of an application as the server lists them; empty when it knows none. */
    List<JsonNode> instances(String app) {
        HttpResponse<String> response = send("GET", "apps/" + app, null);
        List<JsonNode> out = new ArrayList<>();
        if (response.statusCode() == 404) {
            return out;
        }
        try {
            JSON.readTree(response.body()).path("application").path("instance").forEach(out::add);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out;
    }

    private HttpResponse<String> send(String method, String path, String json) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + "/" + path))
                .header("Accept", "application/json")
                .method(method, json == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8));
        if (json != null) {
            b.header("Content-Type", "application/json");
        }
        try {
            return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new IllegalStateException(method + " " + path + " failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
