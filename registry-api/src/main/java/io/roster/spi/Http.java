package io.roster.spi;

import io.roster.InvalidOptionException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * A small HTTP/1.1 client for backends that speak HTTP to their registry (Consul, Eureka), with what the JDK's
 * {@link HttpClient} lacks for them: a hard bound on the connections it opens, kept by a pool shared by every
 * request (heartbeats, writes, long-held blocking queries), and a {@link #close()} that closes every connection at
 * once on any Java version (Java 17's {@code HttpClient} has no {@code close()}, and its connections stay open
 * until the garbage collector finds the client).
 *
 * <ul>
 *   <li>At most {@code maxConnections} sockets are open at any time, idle ones included: a request takes an idle
 *       connection (the most recently used) or opens one while under the bound, else waits its turn (first come,
 *       first served). A connection found idle longer than {@code idleTimeout} when the pool is next used is
 *       closed.</li>
 *   <li>Each request has a deadline ({@link Request#timeout}) covering the wait for a connection, connecting, TLS,
 *       sending and reading the whole answer.</li>
 *   <li>HTTP 429 (a server's per-client connection or rate limit) is retried after a backoff (or the server's
 *       {@code Retry-After}) until the deadline; the last 429 is returned if it never clears.</li>
 *   <li>An idempotent request that fails on a reused keep-alive connection before any byte of an answer (the server
 *       closed it as it was reused) is sent once more on a fresh connection.</li>
 *   <li>Bodies with {@code Content-Length}, chunked, or up to the end of the connection; no compression, no
 *       redirects, no HTTP/2.</li>
 *   <li>Header values (tokens, passwords) never appear in messages or {@link #toString()}.</li>
 * </ul>
 *
 * <p>{@link #send} runs on the caller's thread; {@link #sendAsync} on the client's own daemon threads, at most
 * {@code maxConnections} of them, which end when idle. Also: {@link #pathSegment} for building paths.
 */
public final class Http implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Http.class);
    private static final char[] HEX = "0123456789ABCDEF".toCharArray();
    private static final int MAX_HEAD_BYTES = 64 * 1024;
    private static final long MAX_BODY_BYTES = 256L * 1024 * 1024;

    private final URI base;
    private final String host;
    private final int port;
    private final String authority;
    private final String basePath;
    private final SSLSocketFactory tls;
    private final Map<String, String> headers;
    private final int maxConnections;
    private final Duration timeout;
    private final Duration connectTimeout;
    private final long idleTimeoutNanos;
    private final Semaphore permits;
    private final ThreadPoolExecutor executor;
    private final Object lock = new Object();
    private final ArrayDeque<Connection> idle = new ArrayDeque<>(); // guarded by lock; most recently used first
    private final Set<Connection> open = new HashSet<>(); // guarded by lock; idle and in use
    private final Set<Exchange> exchanges = Collections.synchronizedSet(new HashSet<>());
    private volatile boolean closed;

    private Http(Builder b) {
        this.base = b.base;
        this.host = b.base.getHost().startsWith("[") ? b.base.getHost().substring(1, b.base.getHost().length() - 1)
                : b.base.getHost();
        boolean secure = "https".equalsIgnoreCase(b.base.getScheme());
        this.port = b.base.getPort() > 0 ? b.base.getPort() : secure ? 443 : 80;
        this.authority = (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
        String path = b.base.getRawPath() == null ? "" : b.base.getRawPath();
        this.basePath = path.endsWith("/") ? path : path + "/";
        this.tls = secure ? (b.sslContext != null ? b.sslContext.getSocketFactory()
                : (SSLSocketFactory) SSLSocketFactory.getDefault()) : null;
        this.headers = new LinkedHashMap<>(b.headers);
        this.maxConnections = b.maxConnections;
        this.timeout = b.timeout;
        this.connectTimeout = b.connectTimeout == null ? b.timeout : b.connectTimeout;
        this.idleTimeoutNanos = b.idleTimeout.toNanos();
        this.permits = new Semaphore(maxConnections, true);
        this.executor = new ThreadPoolExecutor(maxConnections, maxConnections, 30, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), new DaemonThreadFactory(b.threadName));
        this.executor.allowCoreThreadTimeOut(true);
    }

    /**
     * Starts a client for one server.
     *
     * @param base the server, such as {@code http://127.0.0.1:8500} or {@code https://eureka:8761/eureka/}; a
     *     relative request path is resolved against its path
     * @return a builder
     */
    public static Builder builder(URI base) {
        return new Builder(base);
    }

    /**
     * Percent-encodes one path segment or query value: UTF-8, everything but RFC 3986's unreserved characters and
     * {@code ':'} (allowed in a segment, and part of Eureka instance ids such as {@code 10.0.0.5:APP:9000}).
     *
     * @param text the raw text
     * @return the encoded text, such as {@code a%2Fb} for {@code a/b}
     */
    public static String pathSegment(String text) {
        StringBuilder sb = new StringBuilder(text.length() + 8);
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || "-._~:".indexOf(c) >= 0) {
                sb.append((char) c);
            } else {
                sb.append('%').append(HEX[c >> 4]).append(HEX[c & 15]);
            }
        }
        return sb.toString();
    }

    /**
     * Releases a JDK HTTP client at once, aborting requests in flight. Java 21 added {@code shutdownNow()}, called
     * here by reflection; on Java 17 there is nothing to call and the client's selector thread ends once the
     * client is no longer referenced, so callers must drop their reference too. Prefer an {@link Http} client,
     * whose {@link #close()} closes every connection on any Java version.
     *
     * @param client the client, or {@code null}
     */
    public static void shutdown(HttpClient client) {
        if (client == null) {
            return;
        }
        try {
            Method shutdownNow = HttpClient.class.getMethod("shutdownNow");
            shutdownNow.invoke(client);
        } catch (NoSuchMethodException e) {
            // Java 17: nothing to call
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.debug("HttpClient.shutdownNow() failed: {}", e.toString());
        }
    }

    /**
     * Sends a request on the caller's thread and reads the whole answer.
     *
     * @param request the request
     * @return the answer, whatever its status
     * @throws IOException when no answer arrived by the request's deadline, the connection failed, or the client
     *     is closed
     * @throws InterruptedException when interrupted while waiting for a connection
     */
    public Response send(Request request) throws IOException, InterruptedException {
        return execute(request, System.nanoTime() + deadlineOf(request), null);
    }

    /**
     * Sends a request on the client's threads. Cancelling the returned future aborts the request (its connection
     * is closed, never reused).
     *
     * @param request the request
     * @return the answer, whatever its status; fails with an {@link IOException} as {@link #send} throws it
     */
    public CompletableFuture<Response> sendAsync(Request request) {
        Exchange exchange = new Exchange(request, System.nanoTime() + deadlineOf(request));
        if (closed) {
            exchange.completeExceptionally(closedException());
            return exchange;
        }
        exchanges.add(exchange);
        exchange.whenComplete((r, e) -> exchanges.remove(exchange));
        try {
            executor.execute(exchange);
        } catch (RejectedExecutionException e) {
            exchange.completeExceptionally(closedException());
        }
        return exchange;
    }

    /**
     * Counts the connections open now, idle or in use; never more than {@link Builder#maxConnections}.
     *
     * @return the number of open sockets
     */
    public int openConnections() {
        synchronized (lock) {
            return open.size();
        }
    }

    /**
     * Closes every connection at once, aborting requests in flight and failing queued ones, and stops the
     * client's threads. Idempotent.
     */
    @Override
    public void close() {
        List<Connection> all;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            all = new ArrayList<>(open);
            open.clear();
            idle.clear();
        }
        all.forEach(Connection::abort);
        List<Exchange> pending;
        synchronized (exchanges) {
            pending = new ArrayList<>(exchanges);
        }
        pending.forEach(e -> e.completeExceptionally(closedException()));
        executor.shutdownNow();
        try {
            if (!executor.awaitTermination(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                LOG.debug("{}: threads still busy {} after close", this, timeout);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "Http{" + base.getScheme() + "://" + authority + basePath + ", maxConnections=" + maxConnections
                + (closed ? ", closed" : "") + "}";
    }

    // ---- exchange -------------------------------------------------------------------------------------------

    private long deadlineOf(Request request) {
        return (request.timeout == null ? timeout : request.timeout).toNanos();
    }

    private IOException closedException() {
        return new IOException("the HTTP client of " + base.getScheme() + "://" + authority + " is closed");
    }

    /** Sends, retrying 429 answers after a backoff until the deadline. */
    private Response execute(Request request, long deadline, Exchange exchange)
            throws IOException, InterruptedException {
        Backoff backoff = null;
        while (true) {
            Response response = once(request, deadline, exchange);
            if (response.status != 429) {
                return response;
            }
            if (backoff == null) {
                backoff = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(2));
            }
            long delay = response.retryAfterSeconds() * 1_000_000_000L;
            if (delay <= 0) {
                delay = backoff.next().toNanos();
            }
            if (System.nanoTime() + delay >= deadline || closed || (exchange != null && exchange.isDone())) {
                return response;
            }
            LOG.debug("{} {} answered 429 Too Many Requests; trying again in {} ms", request.method,
                    request.path, delay / 1_000_000);
            TimeUnit.NANOSECONDS.sleep(delay);
        }
    }

    /** One try: takes a connection, exchanges, gives it back. */
    private Response once(Request request, long deadline, Exchange exchange)
            throws IOException, InterruptedException {
        long left = deadline - System.nanoTime();
        if (left <= 0 || !permits.tryAcquire(left, TimeUnit.NANOSECONDS)) {
            throw new SocketTimeoutException(request.method + " " + request.path + " to " + authority
                    + ": no connection free within the timeout (all " + maxConnections + " in use)");
        }
        try {
            boolean retried = false;
            while (true) {
                Connection connection = take(request, deadline);
                if (exchange != null) {
                    exchange.connection = connection;
                    if (exchange.isDone()) {
                        discard(connection);
                        throw new IOException("request cancelled");
                    }
                }
                boolean reused = connection.uses > 0;
                try {
                    Response response = connection.exchange(request, deadline);
                    if (response.keepAlive) {
                        release(connection);
                    } else {
                        discard(connection);
                    }
                    return response;
                } catch (IOException | RuntimeException e) {
                    discard(connection);
                    boolean stale = reused && !connection.answered && request.idempotent
                            && !(e instanceof SocketTimeoutException) && !closed
                            && (exchange == null || !exchange.isDone());
                    if (stale && !retried) {
                        retried = true;
                        LOG.debug("{} {}: kept-alive connection closed by {} as it was reused ({}); sending again",
                                request.method, request.path, authority, e.toString());
                        continue;
                    }
                    throw e instanceof IOException ? (IOException) e : new IOException(e.toString(), e);
                } finally {
                    if (exchange != null) {
                        exchange.connection = null;
                    }
                }
            }
        } finally {
            permits.release();
        }
    }

    /** An idle connection, or a new one; the caller holds a permit, so at most maxConnections exist. */
    private Connection take(Request request, long deadline) throws IOException {
        List<Connection> expired = new ArrayList<>();
        Connection connection = null;
        Socket socket;
        synchronized (lock) {
            if (closed) {
                throw closedException();
            }
            long now = System.nanoTime();
            while (!idle.isEmpty() && now - idle.peekLast().idleSince > idleTimeoutNanos) {
                Connection old = idle.pollLast();
                open.remove(old);
                expired.add(old);
            }
            if (!idle.isEmpty()) {
                connection = idle.pollFirst();
            }
            socket = connection == null ? new Socket() : null;
            if (socket != null) {
                connection = new Connection(socket);
                open.add(connection);
            }
        }
        expired.forEach(Connection::abort);
        if (socket != null) {
            try {
                connect(connection, request, deadline);
            } catch (IOException | RuntimeException e) {
                discard(connection);
                throw e instanceof IOException ? (IOException) e : new IOException(e.toString(), e);
            }
        }
        return connection;
    }

    private void connect(Connection connection, Request request, long deadline) throws IOException {
        Socket socket = connection.socket;
        socket.setTcpNoDelay(true);
        long left = Math.min(deadline - System.nanoTime(), connectTimeout.toNanos());
        if (left <= 0) {
            throw new SocketTimeoutException(request.method + " " + request.path + " to " + authority
                    + ": timed out before connecting");
        }
        try {
            socket.connect(new InetSocketAddress(host, port), (int) Math.max(1, left / 1_000_000));
        } catch (SocketTimeoutException e) {
            throw new SocketTimeoutException("connecting to " + authority + " timed out after "
                    + Math.max(1, left / 1_000_000) + " ms");
        }
        Socket wire = socket;
        if (tls != null) {
            SSLSocket ssl = (SSLSocket) tls.createSocket(socket, host, port, true);
            SSLParameters parameters = ssl.getSSLParameters();
            parameters.setEndpointIdentificationAlgorithm("HTTPS");
            if (!isIpLiteral(host)) {
                parameters.setServerNames(List.of(new SNIHostName(host)));
            }
            ssl.setSSLParameters(parameters);
            ssl.setSoTimeout(timeoutMillis(deadline, request));
            ssl.startHandshake();
            wire = ssl;
        }
        connection.attach(wire);
    }

    private static boolean isIpLiteral(String host) {
        return host.indexOf(':') >= 0 || host.matches("[0-9.]+");
    }

    private void release(Connection connection) {
        connection.idleSince = System.nanoTime();
        synchronized (lock) {
            if (!closed && open.contains(connection)) {
                idle.addFirst(connection);
                return;
            }
        }
        connection.abort();
    }

    private void discard(Connection connection) {
        synchronized (lock) {
            open.remove(connection);
            idle.remove(connection);
        }
        connection.abort();
    }

    private int timeoutMillis(long deadline, Request request) throws SocketTimeoutException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new SocketTimeoutException(request.method + " " + request.path + " to " + authority
                    + ": no answer within the timeout");
        }
        return (int) Math.min(Integer.MAX_VALUE, Math.max(1, left / 1_000_000));
    }

    private String target(Request request) {
        if (request.path.startsWith("/")) {
            return request.path;
        }
        return basePath + request.path;
    }

    /** One socket and its streams; used by one request at a time. */
    private final class Connection {
        final Socket socket;
        volatile Socket wire;
        InputStream in;
        OutputStream out;
        long idleSince;
        int uses;
        boolean answered;

        Connection(Socket socket) {
            this.socket = socket;
            this.wire = socket;
        }

        void attach(Socket wire) throws IOException {
            this.wire = wire;
            this.in = new BufferedInputStream(wire.getInputStream(), 16 * 1024);
            this.out = new BufferedOutputStream(wire.getOutputStream(), 8 * 1024);
        }

        Response exchange(Request request, long deadline) throws IOException {
            answered = false;
            uses++;
            wire.setSoTimeout(timeoutMillis(deadline, request));
            out.write(head(request));
            if (request.body.length > 0) {
                out.write(request.body);
            }
            out.flush();
            while (true) {
                wire.setSoTimeout(timeoutMillis(deadline, request));
                String statusLine;
                try {
                    statusLine = line(in, true);
                } catch (SocketTimeoutException e) {
                    throw new SocketTimeoutException(request.method + " " + request.path + " to " + authority
                            + ": no answer within the timeout");
                }
                answered = true;
                Response response = read(statusLine, request, deadline);
                if (response.status >= 100 && response.status < 200) {
                    continue; // an interim answer; the real one follows
                }
                return response;
            }
        }

        private byte[] head(Request request) {
            StringBuilder sb = new StringBuilder(256);
            sb.append(request.method).append(' ').append(target(request)).append(" HTTP/1.1\r\n");
            sb.append("Host: ").append(authority).append("\r\n");
            if (!hasUserAgent(headers) && !hasUserAgent(request.headers)) {
                sb.append("User-Agent: roster\r\n");
            }
            headers.forEach((k, v) -> sb.append(k).append(": ").append(v).append("\r\n"));
            request.headers.forEach((k, v) -> sb.append(k).append(": ").append(v).append("\r\n"));
            if (request.body.length > 0 || !request.method.equals("GET")) {
                sb.append("Content-Length: ").append(request.body.length).append("\r\n");
            }
            sb.append("\r\n");
            return sb.toString().getBytes(StandardCharsets.UTF_8);
        }

        private Response read(String statusLine, Request request, long deadline) throws IOException {
            String[] parts = statusLine.split(" ", 3);
            if (parts.length < 2 || !parts[0].startsWith("HTTP/")) {
                throw new IOException(authority + " answered something other than HTTP: '" + clip(statusLine)
                        + "'");
            }
            int status;
            try {
                status = Integer.parseInt(parts[1].trim());
            } catch (NumberFormatException e) {
                throw new IOException(authority + " answered a malformed status line: '" + clip(statusLine) + "'");
            }
            Map<String, List<String>> fields = new LinkedHashMap<>();
            int headBytes = statusLine.length();
            while (true) {
                String field = line(in, false);
                if (field.isEmpty()) {
                    break;
                }
                headBytes += field.length();
                if (headBytes > MAX_HEAD_BYTES) {
                    throw new IOException(authority + " answered with headers over " + MAX_HEAD_BYTES + " bytes");
                }
                int colon = field.indexOf(':');
                if (colon > 0) {
                    fields.computeIfAbsent(field.substring(0, colon).trim().toLowerCase(Locale.ROOT),
                            k -> new ArrayList<>(1)).add(field.substring(colon + 1).trim());
                }
            }
            boolean http10 = parts[0].equals("HTTP/1.0");
            String connectionHeader = first(fields, "connection").toLowerCase(Locale.ROOT);
            boolean keepAlive = http10 ? connectionHeader.contains("keep-alive") : !connectionHeader.contains("close");
            byte[] body;
            if (status / 100 == 1 || status == 204 || status == 304 || request.method.equals("HEAD")) {
                body = new byte[0];
            } else if (first(fields, "transfer-encoding").toLowerCase(Locale.ROOT).contains("chunked")) {
                body = chunked(request, deadline);
            } else if (!first(fields, "content-length").isEmpty()) {
                long length;
                try {
                    length = Long.parseLong(first(fields, "content-length"));
                } catch (NumberFormatException e) {
                    throw new IOException(authority + " answered a malformed Content-Length");
                }
                body = exactly(length, request, deadline);
            } else {
                body = toEnd(request, deadline);
                keepAlive = false;
            }
            return new Response(status, fields, body, keepAlive);
        }

        private byte[] exactly(long length, Request request, long deadline) throws IOException {
            if (length < 0 || length > MAX_BODY_BYTES) {
                throw new IOException(authority + " answered a body of " + length + " bytes, over the limit of "
                        + MAX_BODY_BYTES);
            }
            byte[] body = new byte[(int) length];
            int at = 0;
            while (at < body.length) {
                wire.setSoTimeout(timeoutMillis(deadline, request));
                int n = in.read(body, at, body.length - at);
                if (n < 0) {
                    throw new EOFException(authority + " closed the connection in the middle of an answer");
                }
                at += n;
            }
            return body;
        }

        private byte[] chunked(Request request, long deadline) throws IOException {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            while (true) {
                wire.setSoTimeout(timeoutMillis(deadline, request));
                String sizeLine = line(in, false);
                int semicolon = sizeLine.indexOf(';');
                long size;
                try {
                    size = Long.parseLong((semicolon < 0 ? sizeLine : sizeLine.substring(0, semicolon)).trim(), 16);
                } catch (NumberFormatException e) {
                    throw new IOException(authority + " answered a malformed chunk size '" + clip(sizeLine) + "'");
                }
                if (size == 0) {
                    while (!line(in, false).isEmpty()) {
                        // trailers: ignored
                    }
                    return body.toByteArray();
                }
                if (body.size() + size > MAX_BODY_BYTES) {
                    throw new IOException(authority + " answered a body over the limit of " + MAX_BODY_BYTES
                            + " bytes");
                }
                body.writeBytes(exactly(size, request, deadline));
                if (!line(in, false).isEmpty()) {
                    throw new IOException(authority + " answered a malformed chunk");
                }
            }
        }

        private byte[] toEnd(Request request, long deadline) throws IOException {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            byte[] buffer = new byte[8192];
            while (true) {
                wire.setSoTimeout(timeoutMillis(deadline, request));
                int n = in.read(buffer);
                if (n < 0) {
                    return body.toByteArray();
                }
                if (body.size() + n > MAX_BODY_BYTES) {
                    throw new IOException(authority + " answered a body over the limit of " + MAX_BODY_BYTES
                            + " bytes");
                }
                body.write(buffer, 0, n);
            }
        }

        void abort() {
            // The TCP socket first: it unblocks a reader at once, and a TLS close then cannot wait on the peer.
            try {
                socket.close();
            } catch (IOException e) {
                // closing anyway
            }
            try {
                wire.close();
            } catch (IOException | RuntimeException e) {
                // closing anyway
            }
        }
    }

    /** Reads one CRLF- (or LF-) terminated line of ISO-8859-1 text. */
    private String line(InputStream in, boolean first) throws IOException {
        StringBuilder sb = new StringBuilder(64);
        while (true) {
            int c = in.read();
            if (c < 0) {
                throw new EOFException(first && sb.length() == 0
                        ? authority + " closed the connection without answering"
                        : authority + " closed the connection in the middle of an answer");
            }
            if (c == '\n') {
                int end = sb.length();
                if (end > 0 && sb.charAt(end - 1) == '\r') {
                    sb.setLength(end - 1);
                }
                return sb.toString();
            }
            if (sb.length() >= MAX_HEAD_BYTES) {
                throw new IOException(authority + " answered a line over " + MAX_HEAD_BYTES + " bytes");
            }
            sb.append((char) c);
        }
    }

    private static boolean hasUserAgent(Map<String, String> fields) {
        for (String name : fields.keySet()) {
            if (name.equalsIgnoreCase("User-Agent")) {
                return true;
            }
        }
        return false;
    }

    private static String first(Map<String, List<String>> fields, String name) {
        List<String> values = fields.get(name);
        return values == null || values.isEmpty() ? "" : values.get(0);
    }

    private static String clip(String text) {
        return text.length() > 80 ? text.substring(0, 80) + "..." : text;
    }

    /** A request sent through {@link #sendAsync}: queued, then run on a client thread; cancellable. */
    private final class Exchange extends CompletableFuture<Response> implements Runnable {
        final Request request;
        final long deadline;
        volatile Connection connection;

        Exchange(Request request, long deadline) {
            this.request = request;
            this.deadline = deadline;
        }

        @Override
        public void run() {
            if (isDone()) {
                return;
            }
            try {
                complete(execute(request, deadline, this));
            } catch (InterruptedException e) {
                completeExceptionally(closedException());
            } catch (Throwable t) {
                completeExceptionally(t);
            }
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            boolean cancelled = super.cancel(mayInterruptIfRunning);
            Connection c = connection;
            if (c != null) {
                c.abort();
            }
            return cancelled;
        }

        @Override
        public boolean completeExceptionally(Throwable ex) {
            boolean done = super.completeExceptionally(ex);
            Connection c = connection;
            if (done && c != null) {
                c.abort(); // the client is closing, or the request failed: nobody reads this connection
            }
            return done;
        }
    }

    /** One request: method, path, optional body, headers and timeout. Immutable. */
    public static final class Request {
        final String method;
        final String path;
        final byte[] body;
        final Map<String, String> headers;
        final Duration timeout;
        final boolean idempotent;

        private Request(String method, String path, byte[] body, Map<String, String> headers, Duration timeout) {
            this.method = method;
            this.path = path;
            this.body = body;
            this.headers = headers;
            this.timeout = timeout;
            this.idempotent = !method.equals("POST") && !method.equals("PATCH");
        }

        /**
         * A GET.
         *
         * @param path the raw path and query, percent-encoded ({@link #pathSegment}); absolute ({@code /v1/x})
         *     or relative to the base URI's path
         * @return the request
         */
        public static Request get(String path) {
            return new Request("GET", path, new byte[0], Map.of(), null);
        }

        /**
         * A request with a JSON body.
         *
         * @param method {@code PUT}, {@code POST}, {@code DELETE}...; PUT and DELETE are sent again on a fresh
         *     connection when a kept-alive one fails before any answer, POST is not
         * @param path as for {@link #get}
         * @param json the body, sent as {@code application/json}; empty for none
         * @return the request
         */
        public static Request json(String method, String path, String json) {
            byte[] body = json.getBytes(StandardCharsets.UTF_8);
            return new Request(method, path, body, body.length == 0 ? Map.of()
                    : Map.of("Content-Type", "application/json"), null);
        }

        /**
         * Returns this request with another body type.
         *
         * @param contentType such as {@code application/xml}
         * @return a new request
         */
        public Request contentType(String contentType) {
            Map<String, String> h = new LinkedHashMap<>(headers);
            h.put("Content-Type", contentType);
            return new Request(method, path, body, Map.copyOf(h), timeout);
        }

        /**
         * Returns this request with one more header.
         *
         * @param name the header name
         * @param value its value; never shown in messages
         * @return a new request
         */
        public Request header(String name, String value) {
            Map<String, String> h = new LinkedHashMap<>(headers);
            h.put(name, value);
            return new Request(method, path, body, Map.copyOf(h), timeout);
        }

        /**
         * Returns this request with its own deadline instead of the client's default timeout.
         *
         * @param timeout from now until the whole answer is read, waiting for a connection included
         * @return a new request
         */
        public Request timeout(Duration timeout) {
            return new Request(method, path, body, headers, timeout);
        }

        /**
         * The method.
         *
         * @return such as {@code GET}
         */
        public String method() {
            return method;
        }

        /**
         * The path as given.
         *
         * @return the raw path and query
         */
        public String path() {
            return path;
        }

        @Override
        public String toString() {
            return method + " " + path;
        }
    }

    /** A whole answer: status, headers and body. */
    public static final class Response {
        final int status;
        final Map<String, List<String>> headers;
        final byte[] body;
        final boolean keepAlive;

        Response(int status, Map<String, List<String>> headers, byte[] body, boolean keepAlive) {
            this.status = status;
            this.headers = headers;
            this.body = body;
            this.keepAlive = keepAlive;
        }

        /**
         * The status code.
         *
         * @return such as 200
         */
        public int status() {
            return status;
        }

        /**
         * Tells whether the status is 2xx.
         *
         * @return true for success
         */
        public boolean ok() {
            return status / 100 == 2;
        }

        /**
         * The body.
         *
         * @return the bytes, empty for none; do not modify
         */
        public byte[] body() {
            return body;
        }

        /**
         * The body as UTF-8 text.
         *
         * @return the text
         */
        public String text() {
            return new String(body, StandardCharsets.UTF_8);
        }

        /**
         * The first value of a header.
         *
         * @param name the header name, any case
         * @return its value, or empty
         */
        public Optional<String> header(String name) {
            List<String> values = headers.get(name.toLowerCase(Locale.ROOT));
            return values == null || values.isEmpty() ? Optional.empty() : Optional.of(values.get(0));
        }

        long retryAfterSeconds() {
            try {
                return header("Retry-After").map(String::trim).map(Long::parseLong).orElse(0L);
            } catch (NumberFormatException e) {
                return 0; // an HTTP date: use the backoff
            }
        }

        @Override
        public String toString() {
            return "Response{" + status + ", " + body.length + " bytes}";
        }
    }

    /** Settings of an {@link Http} client. */
    public static final class Builder {
        private final URI base;
        private final Map<String, String> headers = new LinkedHashMap<>();
        private int maxConnections = 8;
        private Duration timeout = Duration.ofSeconds(10);
        private Duration connectTimeout;
        private Duration idleTimeout = Duration.ofSeconds(60);
        private SSLContext sslContext;
        private String threadName = "roster-http";

        private Builder(URI base) {
            if (base == null || base.getHost() == null || base.getScheme() == null
                    || !(base.getScheme().equalsIgnoreCase("http") || base.getScheme().equalsIgnoreCase("https"))
                    || base.getPort() > 65535) {
                throw new IllegalArgumentException("need an http(s) URI with a host, was " + base);
            }
            this.base = base;
        }

        /**
         * Bounds the open connections (default 8): at most this many sockets exist at once, idle ones included,
         * and at most this many requests are in flight.
         *
         * @param maxConnections at least 1
         * @return this builder
         */
        public Builder maxConnections(int maxConnections) {
            if (maxConnections < 1) {
                throw new IllegalArgumentException("maxConnections must be at least 1, was " + maxConnections);
            }
            this.maxConnections = maxConnections;
            return this;
        }

        /**
         * Sets the default deadline of a request (default 10 s), and of connecting unless {@link #connectTimeout}
         * is set.
         *
         * @param timeout a positive duration
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            this.timeout = timeout;
            return this;
        }

        /**
         * Bounds connecting and the TLS handshake (default: the timeout).
         *
         * @param connectTimeout a positive duration
         * @return this builder
         */
        public Builder connectTimeout(Duration connectTimeout) {
            this.connectTimeout = connectTimeout;
            return this;
        }

        /**
         * Closes connections idle longer than this (default 60 s), when the pool is next used; set it below the
         * server's own idle timeout.
         *
         * @param idleTimeout a positive duration
         * @return this builder
         */
        public Builder idleTimeout(Duration idleTimeout) {
            this.idleTimeout = idleTimeout;
            return this;
        }

        /**
         * Uses this TLS context for {@code https} (default: the JDK's); host names are verified.
         *
         * @param sslContext the context, or null for the default
         * @return this builder
         */
        public Builder sslContext(SSLContext sslContext) {
            this.sslContext = sslContext;
            return this;
        }

        /**
         * Sends a header with every request, such as a token. A {@code User-Agent} replaces the default
         * ({@code roster}).
         *
         * @param name the header name
         * @param value its value; never shown in messages or {@code toString()}
         * @return this builder
         */
        public Builder header(String name, String value) {
            headers.put(name, value);
            return this;
        }

        /**
         * Names the client's threads.
         *
         * @param threadName such as {@code roster-consul-http}; a counter is appended
         * @return this builder
         */
        public Builder threadName(String threadName) {
            this.threadName = threadName;
            return this;
        }

        /**
         * Creates the client; nothing is connected until the first request.
         *
         * @return the client; close it
         */
        public Http build() {
            return new Http(this);
        }
    }
    /**
     * Reads a server address of a registry URI or builder into the base URI requests are resolved against.
     *
     * @param backend the scheme, for messages, such as {@code consul}
     * @param address {@code host}, {@code host:port}, {@code [::1]:port} or {@code http(s)://host[:port]}; a port
     *     given must be 1–65535
     * @param secure whether TLS is on: a bare address becomes {@code https}, an {@code http://} one is refused
     * @param httpPort the port of a plain address without one
     * @param httpsPort the port of a TLS address without one
     * @return such as {@code http://10.0.0.1:8500/}
     * @throws InvalidOptionException naming {@code address} (or {@code tls}) and the rule
     */
    public static URI baseUri(String backend, String address, boolean secure, int httpPort, int httpsPort) {
        if (address == null || address.isBlank()) {
            throw badAddress(backend, "address", "must not be blank");
        }
        String text = address.contains("://") ? address : (secure ? "https://" : "http://") + address;
        try {
            URI uri = new URI(text);
            String scheme = uri.getScheme();
            if (!"http".equals(scheme) && !"https".equals(scheme)) {
                throw badAddress(backend, "address", "must be host:port or an http(s) URI, was '" + address + "'");
            }
            if (secure && scheme.equals("http")) {
                throw badAddress(backend, "tls", "is on but the address is http://");
            }
            if (uri.getHost() == null || uri.getRawUserInfo() != null || uri.getRawQuery() != null
                    || (uri.getRawPath() != null && !uri.getRawPath().isEmpty() && !uri.getRawPath().equals("/"))) {
                throw badAddress(backend, "address", "must be host:port with no user, path or query, was '"
                        + address + "'");
            }
            // URI reads "host:" as no port and keeps 0 or 99999: a port given must be one.
            String authority = uri.getRawAuthority();
            if (uri.getPort() == 0 || uri.getPort() > 65535 || (uri.getPort() < 0 && authority.endsWith(":"))) {
                throw badAddress(backend, "address", "must have a port between 1 and 65535, was '" + address + "'");
            }
            int port = uri.getPort() > 0 ? uri.getPort() : scheme.equals("https") ? httpsPort : httpPort;
            return new URI(scheme, null, uri.getHost(), port, "/", null, null);
        } catch (URISyntaxException e) {
            throw badAddress(backend, "address", "must be host:port, was '" + address + "' (" + e.getReason() + ")");
        }
    }

    private static InvalidOptionException badAddress(String backend, String option, String rule) {
        return new InvalidOptionException(option, backend + " option '" + option + "' " + rule);
    }
}
