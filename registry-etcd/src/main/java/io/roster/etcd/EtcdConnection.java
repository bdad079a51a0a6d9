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
import io.grpc.netty.GrpcSslContexts;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.roster.InvalidOptionException;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;

import java.io.File;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import javax.net.ssl.SSLException;

/**
 * The jetcd client of one registry, and the one way the registry calls it: each call bounded by the registry's
 * timeout and its failure turned into a {@link RegistryException} that names the registry and, for refused
 * credentials, says so.
 */
final class EtcdConnection implements AutoCloseable {
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
                // Notice a dead connection within seconds; etcd accepts pings every 5 s or more.
                .keepaliveTime(Duration.ofSeconds(10))
                .keepaliveTimeout(timeout)
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
        String t = Objects.requireNonNull(text, "endpoint").trim();
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
     * later (a late {@code put} would resurrect an instance deregistered meanwhile). Streams (watch, keepalive)
     * live on without one.
     */
    static ClientInterceptor deadlines(Duration timeout) {
        return new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options,
                                                         Channel next) {
                if (method.getType() == MethodDescriptor.MethodType.UNARY && options.getDeadline() == null) {
                    options = options.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
                }
                return next.newCall(method, options);
            }
        };
    }
}
