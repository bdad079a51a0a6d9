package io.roster.eureka;

import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Http;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLHandshakeException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * Eureka's REST API ({@code POST/PUT/DELETE apps/<APP>[/<instanceId>]}, {@code GET apps}, {@code GET apps/<APP>},
 * {@code GET apps/delta}) over the JDK {@code HttpClient}, in JSON ({@code Accept} and
 * {@code Content-Type: application/json}; Eureka answers XML otherwise). Every failure is a
 * {@link RegistryException}.
 *
 * <p>Failover: a call goes to the server that answered last; a transport error or a 5xx answer moves it on to the
 * next server URL, each tried once per call (a lone server twice, unless it refused the connection, timed out or
 * failed the TLS handshake).
 * The server that answers becomes the one to use next (Eureka nodes replicate to each other, so any one will do).
 *
 * <p>Threads: the client's own daemon executor ({@code roster-eureka-http-<n>}), up to {@value #PARALLEL}
 * threads for calls made together ({@code roster-eureka-call-<n>}) and up to {@value #BACKGROUND} for renewals
 * ({@code roster-eureka-renew-call-<n>}), the last two gone after a second idle; all shut down by
 * {@link #close()}. The JDK's selector thread and its pooled connections end with the client: on Java 21+ by
 * {@code HttpClient.shutdownNow()}, on Java 17 (which has no such method) only when the client is
 * garbage-collected, so {@link #close()} also drops the reference; until then the connections stay open.
 */
final class EurekaClient implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EurekaClient.class);
    private static final int SNIPPET = 200;
    /** Calls made at once by {@link #forEach}: each is one connection, and servers limit them per client. */
    static final int PARALLEL = 8;
    /** Calls made at once by {@link #execute}: renewals, apart from {@link #forEach} so neither waits for the other. */
    static final int BACKGROUND = 4;

    private final List<URI> servers;
    private final String authorization;
    private final java.time.Duration timeout;
    private final ExecutorService executor;
    private final ThreadPoolExecutor calls;
    private final ThreadPoolExecutor background;
    private final AtomicInteger current = new AtomicInteger();
    private volatile HttpClient http;

    EurekaClient(EurekaOptions options) {
        this.servers = options.servers;
        this.timeout = options.timeout;
        this.authorization = options.user == null ? null : "Basic " + Base64.getEncoder().encodeToString(
                (options.user + ":" + options.password).getBytes(StandardCharsets.UTF_8));
        this.executor = Executors.newCachedThreadPool(new DaemonThreadFactory("roster-eureka-http"));
        this.calls = new ThreadPoolExecutor(PARALLEL, PARALLEL, 1, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                new DaemonThreadFactory("roster-eureka-call"));
        calls.allowCoreThreadTimeOut(true); // no thread while nothing is being sent in bulk
        this.background = new ThreadPoolExecutor(BACKGROUND, BACKGROUND, 1, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), new DaemonThreadFactory("roster-eureka-renew-call"));
        background.allowCoreThreadTimeOut(true);
        HttpClient.Builder builder = HttpClient.newBuilder()
                .executor(executor)
                .version(HttpClient.Version.HTTP_1_1) // no h2c upgrade dance with Tomcat on every new connection
                .connectTimeout(options.timeout)
                .followRedirects(HttpClient.Redirect.NEVER);
        if (options.sslContext != null) {
            builder.sslContext(options.sslContext);
        }
        this.http = builder.build();
    }

    /**
     * Registers (or replaces) one Eureka instance.
     *
     * @throws RegistryException when no server accepts it
     */
    void register(EurekaInstances.Record record) {
        HttpResponse<byte[]> response = call("POST", "apps/" + Http.pathSegment(record.app()), record.json(),
                "register " + record.instanceId());
        expect(response, "register " + record.instanceId(), 200, 204);
    }

    /**
     * Renews one lease.
     *
     * @return false when the server does not know the instance (restarted, or evicted it): register it again
     * @throws RegistryException when no server answers
     */
    boolean renew(String app, String instanceId) {
        String action = "renew " + instanceId;
        HttpResponse<byte[]> response = call("PUT", path(app, instanceId), null, action);
        if (response.statusCode() == 404) {
            return false;
        }
        expect(response, action, 200);
        return true;
    }

    /**
     * Removes one Eureka instance; an unknown one is no error.
     *
     * @throws RegistryException when no server answers
     */
    void cancel(String app, String instanceId) {
        String action = "deregister " + instanceId;
        HttpResponse<byte[]> response = call("DELETE", path(app, instanceId), null, action);
        if (response.statusCode() != 404) {
            expect(response, action, 200);
        }
    }

    /**
     * Reads one application.
     *
     * @return the JSON answer, or empty when the server knows no such application
     * @throws RegistryException when no server answers
     */
    Optional<byte[]> application(String app) {
        String action = "read application " + app;
        HttpResponse<byte[]> response = call("GET", "apps/" + Http.pathSegment(app), null, action);
        if (response.statusCode() == 404) {
            return Optional.empty();
        }
        expect(response, action, 200);
        return Optional.of(response.body());
    }

    /**
     * Reads the whole registry ({@code GET apps}).
     *
     * @return the JSON answer
     * @throws RegistryException when no server answers
     */
    byte[] applications() {
        String action = "read all applications";
        HttpResponse<byte[]> response = call("GET", "apps", null, action);
        expect(response, action, 200);
        return response.body();
    }

    /**
     * Reads the registry's recent changes ({@code GET apps/delta}: every instance registered, changed or removed
     * in the server's retention window, three minutes by default, with the whole registry's hash code).
     *
     * @return the JSON answer, or empty when the server does not offer deltas now ({@code disable-delta}, or a node
     *     that does not serve reads yet: HTTP 403; or a server without the endpoint)
     * @throws RegistryException when no server answers
     */
    Optional<byte[]> delta() {
        String action = "read the registry delta";
        HttpResponse<byte[]> response = call("GET", "apps/delta", null, action, true);
        int status = response.statusCode();
        if (status == 403 || status == 404 || status == 405) {
            return Optional.empty();
        }
        expect(response, action, 200);
        return Optional.of(response.body());
    }

    /**
     * Runs one call per item at once (at most {@value #PARALLEL} at a time) and waits for them together, at most
     * the time one call may take ({@link #budget()}): closing with many instances during an outage costs one
     * timeout, not one per instance and endpoint. Calls still running at the deadline are interrupted.
     *
     * @param items what to call for
     * @param call one call, throwing {@link RegistryException} when it fails
     * @param action names the calls in the exception
     * @throws RegistryException the first failure, after every call ended or the deadline passed
     */
    <T> void forEach(Collection<T> items, Consumer<T> call, String action) {
        if (items.size() == 1) {
            call.accept(items.iterator().next()); // no hand-over for a lone call
            return;
        }
        long deadline = System.nanoTime() + budget().toNanos();
        List<Future<?>> futures = new ArrayList<>(items.size());
        try {
            for (T item : items) {
                futures.add(calls.submit(() -> call.accept(item)));
            }
        } catch (RejectedExecutionException e) {
            futures.forEach(f -> f.cancel(true));
            throw new RegistryUnavailableException(action + " failed: the eureka client is closed", null);
        }
        RuntimeException first = null;
        int failed = 0;
        for (Future<?> future : futures) {
            try {
                future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                continue;
            } catch (ExecutionException e) {
                first = first != null ? first : e.getCause() instanceof RuntimeException
                        ? (RuntimeException) e.getCause() : new RegistryException(action + " failed: " + e.getCause());
            } catch (TimeoutException | CancellationException e) {
                future.cancel(true);
                first = first != null ? first : new RegistryUnavailableException(action + " failed: no eureka "
                        + "server answered within " + budget().toMillis() + " ms (tried " + servers + ")", null);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                futures.forEach(f -> f.cancel(true));
                throw new RegistryUnavailableException(action + " interrupted", e);
            }
            failed++;
        }
        if (first != null) {
            if (failed > 1) {
                LOG.debug("{}: {} of {} calls failed", action, failed, items.size());
            }
            throw first;
        }
    }

    /**
     * Runs background work (a renewal) on one of at most {@value #BACKGROUND} threads: a renewal that hangs on a
     * dead server holds up neither the other instances' renewals nor {@link #forEach}.
     *
     * @param task the work; it handles its own failures
     * @throws RegistryUnavailableException when the client is closed
     */
    void execute(Runnable task) {
        try {
            background.execute(task);
        } catch (RejectedExecutionException e) {
            throw new RegistryUnavailableException("the eureka client is closed", null);
        }
    }

    /**
     * Returns the longest one call may take: the request timeout for each server it may try.
     *
     * @return the budget, plus a little so that a call's own timeout ends it first
     */
    java.time.Duration budget() {
        return timeout.multipliedBy(servers.size()).plusMillis(250);
    }

    private HttpResponse<byte[]> call(String method, String path, String json, String action) {
        return call(method, path, json, action, false);
    }

    private HttpResponse<byte[]> call(String method, String path, String json, String action,
                                      boolean forbiddenIsAnAnswer) {
        HttpClient client = http;
        if (client == null) {
            throw new RegistryUnavailableException(action + " failed: the eureka client is closed", null);
        }
        int first = current.get();
        // A lone server gets a second try: a pooled connection the server has just closed fails the first one.
        int attempts = Math.max(2, servers.size());
        Exception last = null;
        for (int i = 0; i < attempts; i++) {
            int index = (first + i) % servers.size();
            URI server = servers.get(index);
            HttpResponse<byte[]> response;
            try {
                response = client.send(request(server, method, path, json), HttpResponse.BodyHandlers.ofByteArray());
            } catch (IllegalArgumentException | IllegalStateException | SecurityException e) {
                // Never let a JDK exception out: a URI the client refuses, a client shut down under the call.
                throw new RegistryUnavailableException(action + " failed at eureka " + server + ": " + e, e);
            } catch (IOException e) {
                last = e;
                LOG.debug("{} at eureka {} failed: {}", action, server, e.toString());
                if (servers.size() == 1 && (e instanceof ConnectException || e instanceof HttpTimeoutException
                        || e instanceof SSLHandshakeException)) {
                    break; // down, hanging or untrusted: asking the same server again would not help
                }
                continue;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new RegistryUnavailableException(action + " interrupted", e);
            }
            if (response.statusCode() >= 500) {
                last = new IOException("HTTP " + response.statusCode() + snippet(response));
                LOG.debug("{} at eureka {} failed: {}", action, server, last.getMessage());
                continue;
            }
            if (index != first && current.compareAndSet(first, index)) {
                LOG.info("eureka {} did not answer, using {} from now on", servers.get(first), server);
            }
            if (response.statusCode() == 401) {
                throw new RegistryAccessDeniedException(action + " refused by eureka " + server + ": HTTP 401 "
                        + (authorization == null ? "(no credentials were given)" : "(check the user and password)"),
                        null);
            }
            if (response.statusCode() == 403 && !forbiddenIsAnAnswer) {
                throw new RegistryAccessDeniedException(action + " refused by eureka " + server + ": HTTP 403 (the "
                        + "user may lack permission, the server may demand a CSRF token, or a server that started "
                        + "without peers refuses reads for eureka.server.wait-time-in-ms-when-sync-empty)", null);
            }
            return response;
        }
        throw new RegistryUnavailableException(action + " failed: no eureka server answered (tried " + servers
                + "); last error: " + last, last);
    }

    private HttpRequest request(URI server, String method, String path, String json) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(server + "/" + path))
                .timeout(timeout)
                .header("Accept", "application/json")
                .header("Content-Type", "application/json")
                .header("User-Agent", EurekaInstances.AGENT_VALUE)
                .method(method, json == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8));
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return request.build();
    }

    private static void expect(HttpResponse<byte[]> response, String action, int... ok) {
        for (int code : ok) {
            if (response.statusCode() == code) {
                return;
            }
        }
        throw new RegistryException(action + " rejected by eureka " + response.uri() + ": HTTP "
                + response.statusCode() + snippet(response));
    }

    private static String snippet(HttpResponse<byte[]> response) {
        byte[] body = response.body();
        if (body == null || body.length == 0) {
            return "";
        }
        String text = new String(body, StandardCharsets.UTF_8).strip();
        return " " + (text.length() > SNIPPET ? text.substring(0, SNIPPET) + "…" : text);
    }

    private static String path(String app, String instanceId) {
        return "apps/" + Http.pathSegment(app) + "/" + Http.pathSegment(instanceId);
    }


    /**
     * Releases the executor and the JDK client. Calls made afterwards fail.
     */
    @Override
    public void close() {
        HttpClient client = http;
        http = null; // on Java 17 the selector thread ends once the client is unreachable
        Http.shutdown(client);
        calls.shutdownNow();
        background.shutdownNow();
        executor.shutdownNow();
    }

    @Override
    public String toString() {
        return "EurekaClient{servers=" + servers + (authorization == null ? "" : ", basic auth") + "}";
    }
}
