package io.roster.consul;

import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.utility.DockerImageName;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

/** A real Consul agent in dev mode (server and agent in one, in memory), from the official image. */
final class ConsulContainer extends GenericContainer<ConsulContainer> {
    static final DockerImageName IMAGE = DockerImageName.parse("hashicorp/consul:1.21");

    ConsulContainer() {
        super(IMAGE);
        withCommand("agent", "-dev", "-client", "0.0.0.0", "-log-level", "warn");
        withExposedPorts(8500);
        waitingFor(Wait.forHttp("/v1/status/leader").forPort(8500).forResponsePredicate(body -> body.length() > 2));
    }

    String address() {
        return getHost() + ":" + getMappedPort(8500);
    }

    /** Deregisters a service behind the registry's back, as an operator (or an agent that lost it) would. */
    void forget(String serviceId) throws IOException, InterruptedException {
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> reply = http.send(HttpRequest.newBuilder(
                        URI.create("http://" + address() + "/v1/agent/service/deregister/" + serviceId))
                .PUT(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        if (reply.statusCode() != 200) {
            throw new IOException("deregister " + serviceId + ": HTTP " + reply.statusCode() + " " + reply.body());
        }
    }
}
