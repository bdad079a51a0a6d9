package io.roster.consul;

import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Http;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The few Consul HTTP API calls the registry makes, on the JDK {@link HttpClient}: register, pass a TTL check,
 * deregister, and read a service's health (once, or as an asynchronous blocking query). The ACL token goes in
 * {@code X-Consul-Token} on every request, with or without TLS; it never appears in messages.
 *
 * <p>The client runs on its own small daemon executor, shut down by {@link #close()}. On Java 17 the
 * {@code HttpClient} has no {@code close()}: its selector thread ends once the client is unreachable and has no
 * request in flight, so {@link #close()} cancels what is in flight and drops the reference; on Java 21+ it also
 * calls {@code shutdownNow()}.
 */
final class ConsulClient implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ConsulClient.class);
    private static final String TOKEN_HEADER = "X-Consul-Token";
    private static final String INDEX_HEADER = "X-Consul-Index";
    private static final String FILTERED_HEADER = "X-Consul-Results-Filtered-By-ACLs";

    private final URI base;
    private final String token;
    private final Duration timeout;
    private final ExecutorService executor;
    private final Set<CompletableFuture<?>> inFlight = ConcurrentHashMap.newKeySet();
    private volatile HttpClient http;

    ConsulClient(ConsulConfig config) {
        this.base = config.agent();
        this.token = config.token();
        this.timeout = config.timeout();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(2, 2, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                new DaemonThreadFactory("roster-consul-http"));
        pool.allowCoreThreadTimeOut(true);
        this.executor = pool;
        HttpClient.Builder builder = HttpClient.newBuilder()
                // HTTP/1.1: a blocking query per connection, as Consul's own clients do; no h2c upgrade attempts.
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(timeout)
                .executor(executor);
        if (config.sslContext() != null) {
            builder.sslContext(config.sslContext());
        }
        this.http = builder.build();
    }

    /** An HTTP answer of the agent. */
    static final class Reply {
        final int status;
        final byte[] body;
        final long index;
        final boolean filteredByAcls;

        Reply(HttpResponse<byte[]> response) {
            this.status = response.statusCode();
            this.body = response.body() == null ? new byte[0] : response.body();
            this.index = response.headers().firstValueAsLong(INDEX_HEADER).orElse(0);
            this.filteredByAcls = response.headers().firstValue(FILTERED_HEADER).map("true"::equalsIgnoreCase)
                    .orElse(false);
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

        ConsulHttpException(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    /** {@code PUT /v1/agent/service/register}. */
    void register(String payload) throws IOException, InterruptedException {
        expectOk(send(put("/v1/agent/service/register", payload)), "registering");
    }

    /** {@code PUT /v1/agent/check/update/<check>} with status passing. */
    void passTtl(String checkId) throws IOException, InterruptedException {
        expectOk(send(passRequest(checkId)), "passing TTL check");
    }

    /** The same, asynchronously; fails with a {@link ConsulHttpException} on an error status. */
    CompletableFuture<Reply> passTtlAsync(String checkId) {
        return sendAsync(passRequest(checkId)).thenApply(reply -> {
            if (!reply.ok()) {
                throw new CompletionException(failure(reply, "passing TTL check"));
            }
            return reply;
        });
    }

    /** {@code PUT /v1/agent/service/deregister/<id>}; a service the agent does not know (404) is no error. */
    void deregister(String serviceId) throws IOException, InterruptedException {
        Reply reply = send(deregisterRequest(serviceId));
        if (reply.status != 404) {
            expectOk(reply, "deregistering");
        }
    }

    /** The same, asynchronously, for closing many at once. */
    CompletableFuture<Reply> deregisterAsync(String serviceId) {
        return sendAsync(deregisterRequest(serviceId)).thenApply(reply -> {
            if (!reply.ok() && reply.status != 404) {
                throw new CompletionException(failure(reply, "deregistering"));
            }
            return reply;
        });
    }

    /** A one-off health read, {@code GET /v1/health/service/<name>}. */
    Reply health(String service, boolean passingOnly, String datacenter) throws IOException, InterruptedException {
        Reply reply = send(healthRequest(service, passingOnly, datacenter, 0, null));
        expectOk(reply, "reading service '" + service + "'");
        return reply;
    }

    /**
     * A blocking health query: held by the agent until the service's index moves past {@code index} or
     * {@code wait} ends (plus up to wait/16 of Consul's jitter), so the request timeout is longer than that.
     * Cancelling the returned future aborts the request.
     */
    CompletableFuture<Reply> healthAsync(String service, boolean passingOnly, String datacenter, long index,
                                         Duration wait) {
        return sendAsync(healthRequest(service, passingOnly, datacenter, index, wait));
    }

    private HttpRequest passRequest(String checkId) {
        return put("/v1/agent/check/update/" + Http.pathSegment(checkId), "{\"Status\":\"passing\",\"Output\":\"pass\"}");
    }

    private HttpRequest deregisterRequest(String serviceId) {
        return put("/v1/agent/service/deregister/" + Http.pathSegment(serviceId), "");
    }

    private HttpRequest healthRequest(String service, boolean passingOnly, String datacenter, long index,
                                      Duration wait) {
        StringBuilder query = new StringBuilder();
        if (passingOnly) {
            query.append("&passing=1");
        }
        if (datacenter != null) {
            query.append("&dc=").append(Http.pathSegment(datacenter));
        }
        Duration requestTimeout = timeout;
        if (index > 0) {
            query.append("&index=").append(index).append("&wait=").append(ConsulFormat.goDuration(wait));
            requestTimeout = wait.plus(wait.dividedBy(16)).plus(timeout);
        }
        String path = "/v1/health/service/" + Http.pathSegment(service)
                + (query.length() == 0 ? "" : "?" + query.substring(1));
        return request(path, requestTimeout).GET().build();
    }

    private HttpRequest put(String path, String body) {
        return request(path, timeout).header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private HttpRequest.Builder request(String path, Duration requestTimeout) {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(requestTimeout);
        if (token != null) {
            b.header(TOKEN_HEADER, token);
        }
        return b;
    }

    private Reply send(HttpRequest request) throws IOException, InterruptedException {
        // send(), not sendAsync().get(): on Java 17 sendAsync hops every completion through the common pool,
        // which on a 2-core machine is a new thread per task.
        try {
            return new Reply(client().send(request, HttpResponse.BodyHandlers.ofByteArray()));
        } catch (HttpTimeoutException | ConnectException e) {
            throw e;
        } catch (IOException e) {
            // A kept-alive connection that the agent closed just as it was reused fails with no answer at all.
            // Every call made here is idempotent, so one more try, on a fresh connection, is safe.
            LOG.debug("consul request {} {} failed ({}), trying once more", request.method(), request.uri().getPath(),
                    e.toString());
            return new Reply(client().send(request, HttpResponse.BodyHandlers.ofByteArray()));
        }
    }

    private CompletableFuture<Reply> sendAsync(HttpRequest request) {
        CompletableFuture<HttpResponse<byte[]>> exchange;
        try {
            exchange = client().sendAsync(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException | RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        inFlight.add(exchange);
        exchange.whenComplete((r, e) -> inFlight.remove(exchange));
        CompletableFuture<Reply> reply = exchange.thenApply(Reply::new);
        // Cancelling the reply future aborts the exchange; the JDK only aborts when its own future is cancelled.
        reply.whenComplete((r, e) -> {
            if (reply.isCancelled()) {
                exchange.cancel(true);
            }
        });
        return reply;
    }

    private HttpClient client() throws IOException {
        HttpClient h = http;
        if (h == null) {
            throw new IOException("the consul client is closed");
        }
        return h;
    }

    private void expectOk(Reply reply, String action) throws ConsulHttpException {
        if (!reply.ok()) {
            throw failure(reply, action);
        }
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
                + (text.isEmpty() ? "" : " " + text));
    }


    /** Cancels requests in flight, stops the executor and lets go of the HTTP client. Idempotent. */
    @Override
    public void close() {
        HttpClient h = http;
        http = null;
        inFlight.forEach(f -> f.cancel(true));
        executor.shutdownNow();
        if (h != null) {
            Http.shutdown(h);
        }
        try {
            if (!executor.awaitTermination(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                LOG.debug("consul client executor still busy after {}", timeout);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }


    @Override
    public String toString() {
        return "ConsulClient{" + base + (token == null ? "" : ", token=***") + "}";
    }
}
