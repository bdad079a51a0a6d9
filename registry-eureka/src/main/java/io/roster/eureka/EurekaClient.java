package io.roster.eureka;

import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.spi.Http;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * Eureka's REST API ({@code POST/PUT/DELETE apps/<APP>[/<instanceId>]}, {@code GET apps}, {@code GET apps/<APP>},
 * {@code GET apps/delta}) over {@link Http}, in JSON ({@code Accept: application/json}, and
 * {@code Content-Type: application/json} on a body; Eureka answers XML otherwise). Every failure is a
 * {@link RegistryException}.
 *
 * <p>Connections: one {@link Http} pool per server URL, each at most {@code maxConnections} sockets shared by
 * everything the registry sends there (registrations, renewals, reads, deregistrations); a call waits its turn
 * for a connection within its timeout. {@link #close()} closes every socket and ends the pools' threads
 * ({@code roster-eureka-http-<n>}, at most {@code maxConnections} per server, gone when idle) on any Java
 * version.
 *
 * <p>Failover: a call goes to the server that answered last; a transport error or a 5xx answer moves it on to the
 * next server URL, each tried once per call (a lone server twice, unless it refused the connection, timed out or
 * failed the TLS handshake). The server that answers becomes the one to use next (Eureka nodes replicate to each
 * other, so any one will do).
 *
 * <p>Calls are asynchronous (renewals, and calls made together by {@link #forEach}, wait on no thread); reads
 * wait for their answer on the caller's thread, at most {@link #budget()}, and an interrupt aborts them.
 */
final class EurekaClient implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EurekaClient.class);
    private static final int SNIPPET = 200;
    /** Idle connections are closed after this: below the keep-alive timeouts of Tomcat (20 s) and of proxies. */
    private static final Duration IDLE = Duration.ofSeconds(15);

    private final List<URI> servers;
    private final List<Http> pools; // by server index
    private final boolean credentials;
    private final Duration timeout;
    private final AtomicInteger current = new AtomicInteger();
    private volatile boolean closed;

    EurekaClient(EurekaOptions options) {
        this.servers = options.servers;
        this.timeout = options.timeout;
        this.credentials = options.user != null;
        List<Http> list = new ArrayList<>(servers.size());
        for (URI server : servers) {
            Http.Builder builder = Http.builder(server)
                    .maxConnections(options.maxConnections)
                    .timeout(timeout)
                    .idleTimeout(IDLE)
                    .sslContext(options.sslContext)
                    .threadName("roster-eureka-http")
                    .header("Accept", "application/json")
                    .header("User-Agent", EurekaInstances.AGENT_VALUE);
            if (credentials) {
                builder.header("Authorization", "Basic " + Base64.getEncoder().encodeToString(
                        (options.user + ":" + options.password).getBytes(StandardCharsets.UTF_8)));
            }
            list.add(builder.build());
        }
        this.pools = List.copyOf(list);
    }

    /**
     * Registers (or replaces) one Eureka instance.
     *
     * @return completes when a server took it; fails with a {@link RegistryException}
     */
    CompletableFuture<Void> register(EurekaInstances.Record record) {
        String action = "register " + record.instanceId();
        return call(Http.Request.json("POST", "apps/" + Http.pathSegment(record.app()), record.json()), action,
                false, (response, server) -> {
                    expect(response, server, action, 200, 204);
                    return null;
                });
    }

    /**
     * Renews one lease.
     *
     * @return false when the server does not know the instance (restarted, or evicted it): register it again;
     *     fails with a {@link RegistryException} when no server answers
     */
    CompletableFuture<Boolean> renew(String app, String instanceId) {
        String action = "renew " + instanceId;
        return call(Http.Request.json("PUT", path(app, instanceId), ""), action, false, (response, server) -> {
            if (response.status() == 404) {
                return false;
            }
            expect(response, server, action, 200);
            return true;
        });
    }

    /**
     * Removes one Eureka instance; an unknown one is no error.
     *
     * @return completes when it is gone; fails with a {@link RegistryException} when no server answers
     */
    CompletableFuture<Void> cancel(String app, String instanceId) {
        String action = "deregister " + instanceId;
        return call(Http.Request.json("DELETE", path(app, instanceId), ""), action, false, (response, server) -> {
            if (response.status() != 404) {
                expect(response, server, action, 200);
            }
            return null;
        });
    }

    /**
     * Reads one application.
     *
     * @return the JSON answer, or empty when the server knows no such application
     * @throws RegistryException when no server answers
     */
    Optional<byte[]> application(String app) {
        String action = "read application " + app;
        return await(call(Http.Request.get("apps/" + Http.pathSegment(app)), action, false, (response, server) -> {
            if (response.status() == 404) {
                return Optional.<byte[]>empty();
            }
            expect(response, server, action, 200);
            return Optional.of(response.body());
        }), action);
    }

    /**
     * Reads the whole registry ({@code GET apps}).
     *
     * @return the JSON answer
     * @throws RegistryException when no server answers
     */
    byte[] applications() {
        String action = "read all applications";
        return await(call(Http.Request.get("apps"), action, false, (response, server) -> {
            expect(response, server, action, 200);
            return response.body();
        }), action);
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
        return await(call(Http.Request.get("apps/delta"), action, true, (response, server) -> {
            int status = response.status();
            if (status == 403 || status == 404 || status == 405) {
                return Optional.<byte[]>empty();
            }
            expect(response, server, action, 200);
            return Optional.of(response.body());
        }), action);
    }

    /**
     * Starts one call per item at once and waits for them together, at most the time one call may take
     * ({@link #budget()}): closing with many instances during an outage costs one timeout, not one per instance
     * and endpoint. The pools bound the requests in flight; calls still running at the deadline are aborted.
     *
     * @param items what to call for
     * @param call starts one call, failing with {@link RegistryException}
     * @param action names the calls in the exception
     * @throws RegistryException the first failure, after every call ended or the deadline passed
     */
    <T> void forEach(Collection<T> items, Function<T, CompletableFuture<?>> call, String action) {
        long deadline = System.nanoTime() + budget().toNanos();
        List<CompletableFuture<?>> calls = new ArrayList<>(items.size());
        for (T item : items) {
            calls.add(call.apply(item));
        }
        RuntimeException first = null;
        int failed = 0;
        for (CompletableFuture<?> future : calls) {
            try {
                future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                continue;
            } catch (ExecutionException | CancellationException e) {
                first = first != null ? first : failure(e instanceof ExecutionException ? e.getCause() : e, action);
            } catch (TimeoutException e) {
                future.cancel(true);
                first = first != null ? first : late(action);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                calls.forEach(f -> f.cancel(true));
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
     * Returns the longest one call may take: the request timeout for each server it may try.
     *
     * @return the budget, plus a little so that a call's own timeout ends it first
     */
    Duration budget() {
        return timeout.multipliedBy(servers.size()).plusMillis(250);
    }

    /** Sends a call, to be read by {@code reading} once a server answered it. */
    private <T> CompletableFuture<T> call(Http.Request request, String action, boolean forbiddenIsAnAnswer,
                                          Reading<T> reading) {
        Call<T> call = new Call<>(request, action, forbiddenIsAnAnswer, reading);
        call.next();
        return call;
    }

    /** Waits for a call on the caller's thread, at most {@link #budget()}; an interrupt aborts it. */
    private <T> T await(CompletableFuture<T> call, String action) {
        try {
            return call.get(budget().toNanos(), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            throw failure(e.getCause(), action);
        } catch (TimeoutException e) {
            call.cancel(true);
            throw late(action);
        } catch (InterruptedException e) {
            call.cancel(true);
            Thread.currentThread().interrupt();
            throw new RegistryUnavailableException(action + " interrupted", e);
        }
    }

    private RegistryUnavailableException late(String action) {
        return new RegistryUnavailableException(action + " failed: no eureka server answered within "
                + budget().toMillis() + " ms (tried " + servers + ")", null);
    }

    private static RegistryException failure(Throwable error, String action) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (cause instanceof RegistryException) {
            return (RegistryException) cause;
        }
        if (cause instanceof CancellationException) {
            return new RegistryUnavailableException(action + " cancelled", cause);
        }
        return new RegistryUnavailableException(action + " failed: " + cause, cause);
    }

    private RegistryUnavailableException closedFailure(String action) {
        return new RegistryUnavailableException(action + " failed: the eureka client is closed", null);
    }

    private static void expect(Http.Response response, URI server, String action, int... ok) {
        for (int code : ok) {
            if (response.status() == code) {
                return;
            }
        }
        throw new RegistryException(action + " rejected by eureka " + server + ": HTTP " + response.status()
                + snippet(response));
    }

    private static String snippet(Http.Response response) {
        byte[] body = response.body();
        if (body.length == 0) {
            return "";
        }
        String text = new String(body, StandardCharsets.UTF_8).strip();
        return " " + (text.length() > SNIPPET ? text.substring(0, SNIPPET) + "…" : text);
    }

    private static String path(String app, String instanceId) {
        return "apps/" + Http.pathSegment(app) + "/" + Http.pathSegment(instanceId);
    }

    /**
     * Closes every connection to every server at once, aborting calls in flight, and ends the pools' threads.
     * Calls made afterwards fail.
     */
    @Override
    public void close() {
        closed = true; // before the pools: a call aborted by them fails as closed rather than trying the next one
        pools.forEach(Http::close);
    }

    @Override
    public String toString() {
        return "EurekaClient{servers=" + servers + (credentials ? ", basic auth" : "") + "}";
    }

    /** What a call makes of the answer of a server. */
    @FunctionalInterface
    private interface Reading<T> {
        T read(Http.Response response, URI server);
    }

    /**
     * One call: tries the servers in turn, from the one that answered last, each attempt started when the last
     * one ended (so its fields need no lock). Cancelling it aborts the request in flight.
     */
    private final class Call<T> extends CompletableFuture<T> {
        private final Http.Request request;
        private final String action;
        private final boolean forbiddenIsAnAnswer;
        private final Reading<T> reading;
        private final int first = current.get();
        // A lone server gets a second try: a connection the server has just closed can fail the first one.
        private int attempts = Math.max(2, servers.size());
        private int tried;
        private IOException last;
        private volatile CompletableFuture<Http.Response> inFlight;

        Call(Http.Request request, String action, boolean forbiddenIsAnAnswer, Reading<T> reading) {
            this.request = request;
            this.action = action;
            this.forbiddenIsAnAnswer = forbiddenIsAnAnswer;
            this.reading = reading;
        }

        void next() {
            if (isDone()) {
                return;
            }
            if (closed) {
                completeExceptionally(closedFailure(action));
                return;
            }
            if (tried >= attempts) {
                completeExceptionally(new RegistryUnavailableException(action + " failed: no eureka server "
                        + "answered (tried " + servers + "); last error: " + last, last));
                return;
            }
            int index = (first + tried++) % servers.size();
            CompletableFuture<Http.Response> attempt = pools.get(index).sendAsync(request);
            inFlight = attempt;
            if (isDone()) {
                attempt.cancel(true); // cancelled meanwhile
                return;
            }
            attempt.whenComplete((response, error) -> {
                try {
                    answered(index, response, error);
                } catch (Throwable t) {
                    completeExceptionally(t); // never lost in a callback
                }
            });
        }

        private void answered(int index, Http.Response response, Throwable error) {
            URI server = servers.get(index);
            if (error != null) {
                last = error instanceof IOException ? (IOException) error : new IOException(error.toString(), error);
                if (isDone()) {
                    return;
                }
                LOG.debug("{} at eureka {} failed: {}", action, server, last.toString());
                if (servers.size() == 1 && (error instanceof ConnectException
                        || error instanceof SocketTimeoutException || error instanceof SSLException)) {
                    attempts = tried; // down, hanging or untrusted: asking the same server again would not help
                }
                next();
                return;
            }
            if (response.status() >= 500) {
                last = new IOException("HTTP " + response.status() + snippet(response));
                LOG.debug("{} at eureka {} failed: {}", action, server, last.getMessage());
                next();
                return;
            }
            if (index != first && current.compareAndSet(first, index)) {
                LOG.info("eureka {} did not answer, using {} from now on", servers.get(first), server);
            }
            if (response.status() == 401) {
                completeExceptionally(new RegistryAccessDeniedException(action + " refused by eureka " + server
                        + ": HTTP 401 " + (credentials ? "(check the user and password)"
                        : "(no credentials were given)"), null));
            } else if (response.status() == 403 && !forbiddenIsAnAnswer) {
                completeExceptionally(new RegistryAccessDeniedException(action + " refused by eureka " + server
                        + ": HTTP 403 (the user may lack permission, the server may demand a CSRF token, or a server "
                        + "that started without peers refuses reads for eureka.server.wait-time-in-ms-when-sync-empty)",
                        null));
            } else {
                try {
                    complete(reading.read(response, server));
                } catch (RuntimeException e) {
                    completeExceptionally(e);
                }
            }
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            boolean cancelled = super.cancel(mayInterruptIfRunning);
            CompletableFuture<Http.Response> attempt = inFlight;
            if (attempt != null) {
                attempt.cancel(true); // closes its connection
            }
            return cancelled;
        }
    }
}
