package io.roster.servicecomb;

import javax.net.ssl.SSLContext;
import java.net.URI;
import java.time.Duration;
import java.util.List;

/**
 * The validated settings of one {@link ServiceCombRegistry}, made by {@link ServiceCombRegistry.Builder#build()}.
 * {@link #toString()} never shows the password or the token.
 */
final class ServiceCombConfig {
    final List<URI> addresses;
    final String project;
    final String domain;
    final String app;
    final String environment;
    final String consumer;
    final Duration heartbeat;
    final int times;
    final Duration timeout;
    final Duration refresh;
    final String user;
    final String password;
    final String token;
    final SSLContext sslContext;

    ServiceCombConfig(List<URI> addresses, String project, String domain, String app, String environment,
                      String consumer, Duration heartbeat, int times, Duration timeout, Duration refresh,
                      String user, String password, String token, SSLContext sslContext) {
        this.addresses = List.copyOf(addresses);
        this.project = project;
        this.domain = domain;
        this.app = app;
        this.environment = environment;
        this.consumer = consumer;
        this.heartbeat = heartbeat;
        this.times = times;
        this.timeout = timeout;
        this.refresh = refresh;
        this.user = user;
        this.password = password;
        this.token = token;
        this.sslContext = sslContext;
    }

    /** How long service-center keeps an instance without heartbeats: interval × (times + 1). */
    Duration ttl() {
        return heartbeat.multipliedBy(times + 1L);
    }

    /** Names the registry in messages: addresses, project, app and environment; no secrets. */
    String description() {
        StringBuilder sb = new StringBuilder("servicecomb at ");
        for (int i = 0; i < addresses.size(); i++) {
            sb.append(i == 0 ? "" : ",").append(addresses.get(i).getScheme()).append("://")
                    .append(addresses.get(i).getRawAuthority());
        }
        return sb.append(" (project ").append(project).append(", app ").append(app)
                .append(environment.isEmpty() ? "" : ", environment " + environment).append(')').toString();
    }

    @Override
    public String toString() {
        return "ServiceCombConfig{" + description() + ", domain=" + domain + ", consumer=" + consumer
                + ", heartbeat=" + heartbeat + ", times=" + times + ", timeout=" + timeout + ", refresh=" + refresh
                + (user == null ? "" : ", user=" + user + ", password=***") + (token == null ? "" : ", token=***")
                + (sslContext == null ? "" : ", tls") + "}";
    }
}
