package io.roster.consul;

import io.roster.InvalidOptionException;
import io.roster.Registry;
import io.roster.spi.Options;
import io.roster.spi.RegistryProvider;
import io.roster.spi.RegistryUri;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Serves {@code consul://[host[:port]][?option=value&...]}: a {@link ConsulRegistry} on the agent at that address
 * (default {@code 127.0.0.1:8500}, or port 8501 with TLS). Options, each as in {@link ConsulRegistry.Builder}:
 *
 * <table>
 *   <caption>consul URI options</caption>
 *   <tr><td>{@code token}</td><td>ACL token, sent as {@code X-Consul-Token} (never shown)</td></tr>
 *   <tr><td>{@code dc}</td><td>datacenter to discover in</td></tr>
 *   <tr><td>{@code ttl}</td><td>TTL of the instance check, default {@code 20s}</td></tr>
 *   <tr><td>{@code heartbeat}</td><td>TTL pass interval, default ttl/2</td></tr>
 *   <tr><td>{@code deregisterAfter}</td><td>Consul's DeregisterCriticalServiceAfter, default {@code 600s}</td></tr>
 *   <tr><td>{@code tcpCheck}</td><td>{@code true} adds a TCP check per endpoint, default false</td></tr>
 *   <tr><td>{@code tags}</td><td>extra tags, comma-separated</td></tr>
 *   <tr><td>{@code wait}</td><td>blocking-query wait, default {@code 55s}</td></tr>
 *   <tr><td>{@code timeout}</td><td>request timeout, default {@code 10s}</td></tr>
 *   <tr><td>{@code passingOnly}</td><td>discover passing instances only, default true</td></tr>
 *   <tr><td>{@code maxConnections}</td><td>connections to the agent at most, default 16</td></tr>
 *   <tr><td>{@code tls}, {@code caFile}, {@code certFile}, {@code keyFile}</td><td>HTTPS, CA bundle, client
 *       certificate and key (PEM)</td></tr>
 * </table>
 *
 * <p>Example: {@code consul://10.0.0.1:8500?token=...&dc=eu1&ttl=15s}.
 */
public final class ConsulRegistryProvider implements RegistryProvider {

    /** Creates the provider; called by {@link java.util.ServiceLoader}. */
    public ConsulRegistryProvider() {
    }

    @Override
    public String scheme() {
        return "consul";
    }

    @Override
    public Registry open(RegistryUri uri) {
        return builder(uri).build();
    }

    /** Reads the URI into a builder; every option is checked, nothing is opened. */
    static ConsulRegistry.Builder builder(RegistryUri uri) {
        if (uri.hosts().size() > 1) {
            throw new InvalidOptionException("hosts", "consul URI takes one agent address (the agent of this node),"
                    + " was " + uri);
        }
        if (uri.user().isPresent()) {
            throw new InvalidOptionException("token", "consul URI takes the ACL token as ?token=..., not as user"
                    + " info");
        }
        if (!uri.path().isEmpty() && !uri.path().equals("/")) {
            throw new InvalidOptionException("path", "consul URI takes no path, was " + uri);
        }
        Options o = uri.options();
        ConsulRegistry.Builder b = ConsulRegistry.builder();
        if (!uri.hosts().isEmpty()) {
            b.address(uri.hosts().get(0));
        }
        o.secret("token").ifPresent(b::token);
        o.string("dc").ifPresent(b::datacenter);
        o.duration("ttl").ifPresent(b::ttl);
        o.duration("heartbeat").ifPresent(b::heartbeat);
        o.duration("deregisterAfter").ifPresent(b::deregisterCriticalServiceAfter);
        b.tcpCheck(o.bool("tcpCheck", false));
        o.string("tags").ifPresent(t -> b.tags(split(t)));
        o.duration("wait").ifPresent(b::blockingQueryWait);
        o.duration("timeout").ifPresent(b::timeout);
        b.passingOnly(o.bool("passingOnly", true));
        b.maxConnections(o.integer("maxConnections", ConsulRegistry.Builder.DEFAULT_MAX_CONNECTIONS));
        if (o.string("tls").isPresent()) {
            b.tls(o.bool("tls", false));
        }
        o.string("caFile").ifPresent(f -> b.caFile(Path.of(f)));
        String cert = o.string("certFile").orElse(null);
        String key = o.string("keyFile").orElse(null);
        if ((cert == null) != (key == null)) {
            throw o.bad(cert == null ? "keyFile" : "certFile", "must be given together with "
                    + (cert == null ? "certFile" : "keyFile"));
        }
        if (cert != null) {
            b.clientCertificate(Path.of(cert), Path.of(key));
        }
        o.requireAllKnown();
        return b;
    }

    private static List<String> split(String tags) {
        return Arrays.stream(tags.split(",", -1)).map(String::trim).collect(Collectors.toList());
    }
}
