package io.roster.consul;

import io.roster.spi.Http;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.function.Function;

/**
 * The Consul HTTP API calls the registry makes, on a bounded {@link Http} pool shared by heartbeats, writes and
 * blocking queries: register, pass a TTL check, deregister, read a service's health, the catalog's service names
 * and checks (as blocking queries too), and ask whether the token may read a service. The ACL token goes in
 * {@code X-Consul-Token} on every request, with or without TLS; it never appears in messages.
 *
 * <p>Every call is asynchronous and runs on the pool's threads; {@link #await} waits for one.
 */
final class ConsulClient implements AutoCloseable {
    private static final String TOKEN_HEADER = "X-Consul-Token";
    private static final String INDEX_HEADER = "X-Consul-Index";
    private static final String FILTERED_HEADER = "X-Consul-Results-Filtered-By-ACLs";

    private final String token;
    private final Duration timeout;
    private final Http http;

    ConsulClient(ConsulConfig config) {
        this.token = config.token();
        this.timeout = config.timeout();
        Http.Builder builder = Http.builder(config.agent())
                .maxConnections(config.maxConnections())
                .timeout(timeout)
                .idleTimeout(Duration.ofSeconds(20)) // under the idle timeouts of agents and proxies in between
                .sslContext(config.sslContext())
                .threadName("roster-consul-http");
        if (token != null) {
            builder.header(TOKEN_HEADER, token);
        }
        this.http = builder.build();
    }

    /** An HTTP answer of the agent. */
    static final class Reply {
        final int status;
        final byte[] body;
        final long index;
        final boolean filteredByAcls;

        Reply(Http.Response response) {
            this.status = response.status();
            this.body = response.body();
            long parsed;
            try {
                parsed = response.header(INDEX_HEADER).map(String::trim).map(Long::parseUnsignedLong).orElse(0L);
            } catch (NumberFormatException e) {
                parsed = 0;
            }
            this.index = parsed;
            this.filteredByAcls = response.header(FILTERED_HEADER).map("true"::equalsIgnoreCase).orElse(false);
        }

        boolean ok() {
            return status / 100 == 2;
        }

        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    /** Consul answered with an error status. */
    static final class ConsulHttpException extends IOException {
        private static final long serialVersionUID = 1L;
        final int status;
        private final String agentText;

        ConsulHttpException(int status, String message, String agentText) {
            super(message);
            this.status = status;
            this.agentText = agentText;
        }

        /** The token was refused, or lacks a permission. */
        boolean denied() {
            return status == 401 || status == 403;
        }

        /**
         * The agent does not know the service: 404 (Consul 1.11+, {@code Unknown service ID "<id>"}), or 500
         * {@code Unknown service "<id>"} from Consul 1.10 and earlier with ACLs on. A fact, not a failure.
         */
        boolean unknownService() {
            return status == 404 || agentText.toLowerCase(Locale.ROOT).startsWith("unknown service");
        }

        /**
         * The agent does not know the check: 404 (Consul 1.11+, {@code Unknown check ID "<id>"}), or 500 from
         * Consul 1.10 and earlier: {@code Unknown check "<id>"} with ACLs on, {@code CheckID "<id>" does not have
         * associated TTL} without.
         */
        boolean unknownCheck() {
            String text = agentText.toLowerCase(Locale.ROOT);
            return status == 404 || text.startsWith("unknown check") || text.contains("does not have associated ttl");
        }
    }

    /** {@code PUT /v1/agent/service/register}. */
    CompletableFuture<Reply> register(String payload) {
        return expectOk(send(Http.Request.json("PUT", "/v1/agent/service/register", payload)), "registering");
    }

    /** {@code PUT /v1/agent/check/update/<check>} with status passing. */
    CompletableFuture<Reply> passTtl(String checkId) {
        return expectOk(send(Http.Request.json("PUT", "/v1/agent/check/update/" + Http.pathSegment(checkId),
                "{\"Status\":\"passing\",\"Output\":\"pass\"}")), "passing TTL check");
    }

    /** {@code PUT /v1/agent/service/deregister/<id>}; a service the agent does not know is no error. */
    CompletableFuture<Reply> deregister(String serviceId) {
        return send(Http.Request.json("PUT", "/v1/agent/service/deregister/" + Http.pathSegment(serviceId), ""))
                .thenApply(reply -> {
                    if (!reply.ok()) {
                        ConsulHttpException failure = failure(reply, "deregistering");
                        if (!failure.unknownService()) {
                            throw new CompletionException(failure);
                        }
                    }
                    return reply;
                });
    }

    /**
     * {@code GET /v1/health/service/<name>}: a read, or with {@code index > 0} a blocking query held by the agent
     * until the service's index moves past it or {@code wait} ends (plus up to wait/16 of Consul's jitter), so the
     * request's deadline is longer than that. The reply is returned whatever its status.
     */
    CompletableFuture<Reply> health(String service, boolean passingOnly, String datacenter, long index,
                                    Duration wait) {
        StringBuilder query = new StringBuilder();
        if (passingOnly) {
            query.append("&passing=1");
        }
        return blocking("/v1/health/service/" + Http.pathSegment(service), query, datacenter, index, wait);
    }

    /**
     * {@code GET /v1/health/state/any?filter=...}: the checks that match a filter, with the index of the whole
     * checks table, which moves on any check change in the datacenter.
     */
    CompletableFuture<Reply> checks(String filter, String datacenter, long index, Duration wait) {
        StringBuilder query = new StringBuilder("&filter=").append(Http.pathSegment(filter));
        return blocking("/v1/health/state/any", query, datacenter, index, wait);
    }

    /**
     * {@code GET /v1/catalog/services}: the names (and tags) of every service registered in the datacenter, with
     * the index of the services table, which moves on any registration, change or removal.
     */
    CompletableFuture<Reply> services(String datacenter, long index, Duration wait) {
        return blocking("/v1/catalog/services", new StringBuilder(), datacenter, index, wait);
    }

    /**
     * {@code POST /v1/internal/acl/authorize}: whether the token may read a service (Consul 1.9+; the endpoint the
     * web UI uses). Answers 401 {@code ACL support disabled} without ACLs.
     */
    CompletableFuture<Reply> mayRead(String service, String datacenter) {
        String body = "[{\"Resource\":\"service\",\"Segment\":" + ConsulFormat.JSON.getNodeFactory().textNode(service)
                + ",\"Access\":\"read\"}]";
        String path = "/v1/internal/acl/authorize" + (datacenter == null ? "" : "?dc=" + Http.pathSegment(datacenter));
        return send(Http.Request.json("POST", path, body));
    }

    private CompletableFuture<Reply> blocking(String path, StringBuilder query, String datacenter, long index,
                                              Duration wait) {
        if (datacenter != null) {
            query.append("&dc=").append(Http.pathSegment(datacenter));
        }
        Duration deadline = timeout;
        if (index > 0) {
            query.append("&index=").append(index).append("&wait=").append(ConsulFormat.goDuration(wait));
            deadline = wait.plus(wait.dividedBy(16)).plus(timeout);
        }
        return send(Http.Request.get(path + (query.length() == 0 ? "" : "?" + query.substring(1)))
                .timeout(deadline));
    }

    /** Sends; cancelling the returned future aborts the request. */
    private CompletableFuture<Reply> send(Http.Request request) {
        return derived(http.sendAsync(request), Reply::new);
    }

    private CompletableFuture<Reply> expectOk(CompletableFuture<Reply> call, String action) {
        return derived(call, reply -> {
            if (!reply.ok()) {
                throw new CompletionException(failure(reply, action));
            }
            return reply;
        });
    }

    /** {@code source.thenApply(f)}, whose cancellation also cancels the source (which aborts the request). */
    private static <T, R> CompletableFuture<R> derived(CompletableFuture<T> source, Function<T, R> f) {
        CompletableFuture<R> result = source.thenApply(f);
        result.whenComplete((r, e) -> {
            if (result.isCancelled()) {
                source.cancel(true);
            }
        });
        return result;
    }

    /** Waits for a call; unwraps its failure. */
    static <T> T await(CompletableFuture<T> call) throws IOException, InterruptedException {
        try {
            return call.get();
        } catch (ExecutionException e) {
            throw asIo(e.getCause());
        } catch (InterruptedException e) {
            call.cancel(true);
            throw e;
        }
    }

    /** The failure behind a completed future's exception, as an {@link IOException}. */
    static IOException asIo(Throwable error) {
        Throwable cause = error;
        while ((cause instanceof CompletionException || cause instanceof ExecutionException)
                && cause.getCause() != null) {
            cause = cause.getCause();
        }
        if (cause instanceof IOException) {
            return (IOException) cause;
        }
        if (cause instanceof CancellationException) {
            return new IOException("request cancelled", cause);
        }
        return new IOException(cause.toString(), cause);
    }

    /** The agent's error text, shortened and without the token (Consul never echoes it; this makes sure). */
    ConsulHttpException failure(Reply reply, String action) {
        String text = reply.text().strip();
        if (text.length() > 300) {
            text = text.substring(0, 300) + "...";
        }
        if (token != null && !token.isEmpty()) {
            text = text.replace(token, "***");
        }
        return new ConsulHttpException(reply.status, action + ": HTTP " + reply.status
                + (text.isEmpty() ? "" : " " + text), text);
    }

    /** Connections open now, for tests. */
    int openConnections() {
        return http.openConnections();
    }

    /** Closes every connection and aborts what is in flight. Idempotent. */
    @Override
    public void close() {
        http.close();
    }

    @Override
    public String toString() {
        return "ConsulClient{" + http + (token == null ? "" : ", token=***") + "}";
    }
}
