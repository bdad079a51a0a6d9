package io.roster.consul;

import javax.net.ssl.SSLContext;
import java.net.URI;
import java.time.Duration;
import java.util.List;

/**
 * The validated settings of one {@link ConsulRegistry}, made by {@link ConsulRegistry.Builder#build()}.
 * {@link #toString()} never shows the token.
 */
final class ConsulConfig {
    private final URI agent;
    private final String token;
    private final String datacenter;
    private final Duration ttl;
    private final Duration heartbeat;
    private final Duration deregisterAfter;
    private final boolean tcpCheck;
    private final List<String> tags;
    private final Duration wait;
    private final Duration timeout;
    private final boolean passingOnly;
    private final int maxConnections;
    private final SSLContext sslContext;
    private final String tlsDescription;

    ConsulConfig(URI agent, String token, String datacenter, Duration ttl, Duration heartbeat,
                 Duration deregisterAfter, boolean tcpCheck, List<String> tags, Duration wait, Duration timeout,
                 boolean passingOnly, int maxConnections, SSLContext sslContext, String tlsDescription) {
        this.agent = agent;
        this.token = token;
        this.datacenter = datacenter;
        this.ttl = ttl;
        this.heartbeat = heartbeat;
        this.deregisterAfter = deregisterAfter;
        this.tcpCheck = tcpCheck;
        this.tags = List.copyOf(tags);
        this.wait = wait;
        this.timeout = timeout;
        this.passingOnly = passingOnly;
        this.maxConnections = maxConnections;
        this.sslContext = sslContext;
        this.tlsDescription = tlsDescription;
    }

    /** The agent's base URI, such as {@code http://127.0.0.1:8500}. */
    URI agent() {
        return agent;
    }

    /** The ACL token, or null. Never log it. */
    String token() {
        return token;
    }

    /** The datacenter to discover in, or null for the agent's own. */
    String datacenter() {
        return datacenter;
    }

    Duration ttl() {
        return ttl;
    }

    Duration heartbeat() {
        return heartbeat;
    }

    Duration deregisterAfter() {
        return deregisterAfter;
    }

    boolean tcpCheck() {
        return tcpCheck;
    }

    List<String> tags() {
        return tags;
    }

    Duration queryWait() {
        return wait;
    }

    Duration timeout() {
        return timeout;
    }

    boolean passingOnly() {
        return passingOnly;
    }

    /** The most connections open to the agent at once. */
    int maxConnections() {
        return maxConnections;
    }

    /** The TLS context, or null for plain HTTP. */
    SSLContext sslContext() {
        return sslContext;
    }

    ConsulFormat.Checks checks() {
        return new ConsulFormat.Checks(ttl, deregisterAfter, tcpCheck, heartbeat, tags);
    }

    @Override
    public String toString() {
        return "ConsulConfig{agent=" + agent + (token == null ? "" : ", token=***")
                + (datacenter == null ? "" : ", dc=" + datacenter) + ", ttl=" + ConsulFormat.goDuration(ttl)
                + ", heartbeat=" + ConsulFormat.goDuration(heartbeat) + ", deregisterAfter="
                + ConsulFormat.goDuration(deregisterAfter) + ", tcpCheck=" + tcpCheck + ", tags=" + tags
                + ", wait=" + ConsulFormat.goDuration(wait) + ", timeout=" + ConsulFormat.goDuration(timeout)
                + ", passingOnly=" + passingOnly + ", maxConnections=" + maxConnections
                + (tlsDescription == null ? "" : ", tls=" + tlsDescription) + "}";
    }
}
