package io.roster.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.common.exception.EtcdException;
import io.etcd.jetcd.common.exception.ErrorCode;
import io.etcd.jetcd.common.exception.EtcdExceptionFactory;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.MethodDescriptor;
import io.etcd.jetcd.ClientBuilder;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.OptionsUtil;
import io.grpc.netty.GrpcSslContexts;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.roster.InvalidOptionException;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.spi.Options;

import java.io.File;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import javax.net.ssl.SSLException;

/**
 * The jetcd client of one registry, and the one way the registry calls it: each call bounded by the registry's
 * timeout and its failure turned into a {@link RegistryException} that names the registry and, for refused
 * credentials, says so.
 */
final class EtcdConnection implements AutoCloseable {
    /** Records per page of a prefix read. */
    static final int PAGE = 1000;
    private static final String LEASE_KEEP_ALIVE = "etcdserverpb.Lease/LeaseKeepAlive";

    private final Client client;
    private final boolean owned;
    private final Duration timeout;
    private final String description;

    EtcdConnection(Client client, boolean owned, Duration timeout, String description) {
        this.client = client;
        this.owned = owned;
        this.timeout = timeout;
        this.description = description;
    }

    /**
     * Creates a jetcd client. It does not connect yet.
     *
     * @throws InvalidOptionException when a TLS file cannot be used
     */
    static Client client(List<URI> endpoints, Duration timeout, String user, String password, boolean tls,
                         Path caFile, Path certFile, Path keyFile) {
        if (!tls && (caFile != null || certFile != null)) {
            throw new InvalidOptionException("tls", "etcd option 'tls' is false but a CA or client certificate "
                    + "is given");
        }
        ClientBuilder builder = Client.builder()
                .endpoints(endpoints)
                .connectTimeout(timeout)
                // The registry retries by itself (and only what is safe); jetcd's retries would resend a request
                // that already timed out for the caller.
                .retryMaxAttempts(0)
                // Notice a dead connection (a crashed or frozen member sends no RST) while calls are open: a ping
                // after 10 s without a read (grpc-java's minimum; etcd accepts one every 5 s while streams are
                // open). Never without calls: etcd 3.4 permits no ping on a connection without streams (its
                // policy allows one per 2 h), and answers the third with GOAWAY too_many_pings, so a client that
                // only reads now and then would be cut off every ~30 s.
                .keepaliveTime(Duration.ofSeconds(10))
                .keepaliveTimeout(timeout)
                .keepaliveWithoutCalls(false)
                // As etcd's Go client: accept any answer. Reads are paged (see readPrefix), but one watch response
                // can carry many revisions (a watcher catching up), and jetcd cannot ask etcd to fragment them.
                .maxInboundMessageSize(Integer.MAX_VALUE)
                .interceptor(deadlines(timeout));
        if (user != null) {
            builder.user(bytes(user)).password(bytes(password));
        }
        if (tls) {
            builder.sslContext(sslContext(caFile, certFile, keyFile));
        }
        return builder.build();
    }

    private static SslContext sslContext(Path caFile, Path certFile, Path keyFile) {
        File ca = caFile == null ? null : readable("caFile", caFile);
        File cert = certFile == null ? null : readable("certFile", certFile);
        File key = certFile == null ? null : readable("keyFile", keyFile);
        try {
            SslContextBuilder ssl = GrpcSslContexts.forClient();
            if (ca != null) {
                ssl.trustManager(ca);
            }
            if (cert != null) {
                ssl.keyManager(cert, key);
            }
            return ssl.build();
        } catch (SSLException | IllegalArgumentException e) {
            String option = cert == null ? "caFile" : "certFile";
            throw new InvalidOptionException(option, "etcd TLS files could not be used (caFile " + caFile
                    + ", certFile " + certFile + ", keyFile " + keyFile + "; PEM expected, the key as PKCS#8): "
                    + e.getMessage());
        }
    }

    private static File readable(String option, Path file) {
        if (file == null || !Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new InvalidOptionException(option, "etcd option '" + option + "' names no readable file: " + file);
        }
        return file.toFile();
    }

    /**
     * Reads one endpoint: {@code host:port}, {@code host} or {@code http(s)://host:port}.
     *
     * @throws InvalidOptionException when it is not one of those
     */
    static URI endpoint(String text) {
        String t = Options.required(text, "endpoint").trim();
        String withScheme = t.contains("://") ? t : "http://" + t;
        try {
            URI uri = new URI(withScheme);
            String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
            boolean bare = (uri.getRawPath() == null || uri.getRawPath().isEmpty() || uri.getRawPath().equals("/"))
                    && uri.getRawQuery() == null && uri.getRawFragment() == null && uri.getRawUserInfo() == null;
            if (!(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null || !bare) {
                throw new URISyntaxException(t, "expected host:port or http(s)://host:port");
            }
            int port = uri.getPort() == -1 ? 2379 : uri.getPort();
            return new URI(scheme, null, uri.getHost(), port, null, null, null);
        } catch (URISyntaxException e) {
            throw new InvalidOptionException("endpoints", "etcd endpoint '" + t + "' is not host:port or "
                    + "http(s)://host:port");
        }
    }

    Client client() {
        return client;
    }

    String description() {
        return description;
    }

    /**
     * Runs one etcd request and waits for it, at most the timeout.
     *
     * @param action what is attempted, for the message, such as {@code register greeter/1}
     * @param request starts the request
     * @return its response
     * @throws RegistryException on any failure
     */
    <T> T call(String action, Supplier<CompletableFuture<T>> request) {
        boolean retried = false;
        while (true) {
            CompletableFuture<T> future;
            try {
                future = request.get();
            } catch (RuntimeException e) {
                throw failure(action, e); // a closed client throws instead of failing the future
            }
            try {
                // The gRPC deadline (see deadlines()) fires first; this bound covers a client given by the user.
                return future.get(timeout.toMillis() + 500, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                future.cancel(true);
                throw new RegistryUnavailableException(action + " failed: " + description + " did not answer within "
                        + timeout.toMillis() + " ms", e);
            } catch (InterruptedException e) {
                future.cancel(true);
                Thread.currentThread().interrupt();
                throw new RegistryUnavailableException(action + " interrupted", e);
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                // jetcd has dropped the expired token by now; one more try authenticates again.
                if (!retried && isStaleToken(cause)) {
                    retried = true;
                    continue;
                }
                throw failure(action, cause);
            }
        }
    }

    /**
     * Turns a jetcd failure into the right exception.
     *
     * @param action what was attempted
     * @param cause the failure
     * @return {@link RegistryAccessDeniedException} for refused credentials or permissions, otherwise
     *     {@link RegistryUnavailableException}
     */
    RegistryException failure(String action, Throwable cause) {
        Throwable t = cause instanceof CompletionException && cause.getCause() != null ? cause.getCause() : cause;
        if (t instanceof RegistryException) {
            return (RegistryException) t;
        }
        String message = etcdMessage(etcdException(t));
        if (isAnswerTooLarge(t)) {
            return new RegistryException(action + " failed: the answer of " + description + " is larger than this "
                    + "client accepts (" + message + ")", t);
        }
        if (isRequestTooLarge(t)) {
            return new RegistryException(action + " failed: " + description + " refused the request as too large ("
                    + message + "); etcd accepts requests up to its --max-request-bytes (1.5 MiB unless "
                    + "configured), which option maxRequestBytes should not exceed", t);
        }
        if (isAccessDenied(t)) {
            return new RegistryAccessDeniedException(action + " failed: " + description
                    + " refused the credentials or their permissions (" + etcdMessage(etcdException(t)) + ")", t);
        }
        return new RegistryUnavailableException(action + " failed: " + description + " is unavailable ("
                + etcdMessage(etcdException(t)) + ")", t);
    }

    /** Tells whether a failure says that a lease no longer exists (expired or revoked). */
    static boolean isLeaseNotFound(Throwable t) {
        EtcdException e = etcdException(t instanceof RegistryException && t.getCause() != null ? t.getCause() : t);
        return e.getErrorCode() == ErrorCode.NOT_FOUND && etcdMessage(e).contains("lease not found");
    }

    /** An answer over the client's inbound message limit (only a client given by the caller has one). */
    static boolean isAnswerTooLarge(Throwable t) {
        return etcdMessage(etcdException(unwrap(t))).contains("exceeds maximum size");
    }

    /** A request over etcd's limits: its gRPC receive limit, or its {@code --max-request-bytes}. */
    private static boolean isRequestTooLarge(Throwable t) {
        EtcdException e = etcdException(t);
        String message = etcdMessage(e);
        return message.contains("request is too large")
                || (e.getErrorCode() == ErrorCode.RESOURCE_EXHAUSTED && message.contains("larger than max"));
    }

    private static boolean isCompacted(Throwable t) {
        return etcdMessage(etcdException(unwrap(t))).contains("required revision has been compacted");
    }

    private static Throwable unwrap(Throwable t) {
        return t instanceof RegistryException && t.getCause() != null ? t.getCause() : t;
    }

    private static boolean isAccessDenied(Throwable t) {
        EtcdException e = etcdException(t);
        if (e.getErrorCode() == ErrorCode.UNAUTHENTICATED || e.getErrorCode() == ErrorCode.PERMISSION_DENIED) {
            return true;
        }
        String message = etcdMessage(e).toLowerCase(Locale.ROOT);
        return message.contains("authentication failed") || message.contains("user name is empty")
                || message.contains("permission denied") || message.contains("invalid auth token");
    }

    private static boolean isStaleToken(Throwable t) {
        String message = etcdMessage(etcdException(t));
        return message.contains("invalid auth token") || message.contains("revision of auth store is old");
    }

    /** jetcd fails some requests with its own exception and others with gRPC's; this reads both alike. */
    private static EtcdException etcdException(Throwable t) {
        Throwable cause = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
        return EtcdExceptionFactory.toEtcdException(cause);
    }

    /** The server's words: jetcd wraps the authentication failure, whose message is the useful one. */
    private static String etcdMessage(Throwable t) {
        String message = t.getMessage();
        if ((message == null || message.isBlank()) && t.getCause() != null) {
            return etcdMessage(t.getCause());
        }
        return message == null ? t.getClass().getSimpleName() : message;
    }

    /** Every record under a prefix, as of one revision. */
    record Range(List<KeyValue> kvs, long revision) {
    }

    /**
     * Reads every record under a prefix in pages of {@value #PAGE}, each page at the first page's revision, so
     * that no answer grows with the service and the whole is one consistent state. When etcd compacts that
     * revision between two pages, the read starts again.
     *
     * @param action what is attempted, for messages
     * @param prefix the key prefix
     * @param keysOnly whether to leave the values out
     * @param resumeAfter gives the key the next page starts from, given the last key read: its
     *     {@link #successor} to read everything, or a later key to skip the rest of a group
     * @return the records, in key order, and the revision
     * @throws RegistryException on any failure
     */
    Range readPrefix(String action, ByteSequence prefix, boolean keysOnly, UnaryOperator<ByteSequence> resumeAfter) {
        for (int attempt = 1; ; attempt++) {
            try {
                return readPages(action, prefix, keysOnly, resumeAfter);
            } catch (RegistryException e) {
                if (attempt == 3 || !isCompacted(e)) {
                    throw e;
                }
            }
        }
    }

    private Range readPages(String action, ByteSequence prefix, boolean keysOnly,
                            UnaryOperator<ByteSequence> resumeAfter) {
        ByteSequence end = OptionsUtil.prefixEndOf(prefix);
        List<KeyValue> kvs = new ArrayList<>();
        ByteSequence from = prefix;
        long revision = 0;
        int limit = PAGE;
        while (true) {
            GetOption.Builder option = GetOption.builder().withRange(end).withLimit(limit).withKeysOnly(keysOnly);
            if (revision != 0) {
                option.withRevision(revision);
            }
            ByteSequence key = from;
            GetOption get = option.build();
            GetResponse page;
            try {
                page = call(action, () -> client.getKVClient().get(key, get));
            } catch (RegistryException e) {
                if (limit > 1 && isAnswerTooLarge(e)) {
                    limit = Math.max(1, limit / 8); // a client given by the caller, with a lower inbound limit
                    continue;
                }
                throw e;
            }
            if (revision == 0) {
                revision = page.getHeader().getRevision();
            }
            List<KeyValue> got = page.getKvs();
            kvs.addAll(got);
            if (!page.isMore() || got.isEmpty()) {
                return new Range(kvs, revision);
            }
            from = resumeAfter.apply(got.get(got.size() - 1).getKey());
            if (Arrays.compareUnsigned(from.getBytes(), end.getBytes()) >= 0) {
                return new Range(kvs, revision);
            }
        }
    }

    /** The smallest key after the given one. */
    static ByteSequence successor(ByteSequence key) {
        return key.concat(ByteSequence.from(new byte[] {0}));
    }

    @Override
    public void close() {
        if (owned) {
            client.close();
        }
    }

    static ByteSequence bytes(String text) {
        return ByteSequence.from(text, StandardCharsets.UTF_8);
    }

    /**
     * Gives every unary call a deadline, so that a request that timed out for the caller cannot still reach etcd
     * later (a late {@code put} would resurrect an instance deregistered meanwhile). So too each lease renewal,
     * which {@link EtcdKeepAlive} sends on a stream of its own: one stuck on a frozen member ends. Watch streams
     * live on without one.
     */
    static ClientInterceptor deadlines(Duration timeout) {
        return new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options,
                                                         Channel next) {
                boolean bounded = method.getType() == MethodDescriptor.MethodType.UNARY
                        || method.getFullMethodName().equals(LEASE_KEEP_ALIVE);
                if (bounded && options.getDeadline() == null) {
                    options = options.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
                }
                return next.newCall(method, options);
            }
        };
    }
}
