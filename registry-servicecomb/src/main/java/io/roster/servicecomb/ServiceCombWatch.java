package io.roster.servicecomb;

import com.fasterxml.jackson.databind.JsonNode;
import io.roster.ServiceInstance;
import io.roster.spi.Backoff;
import io.roster.spi.Failures;
import io.roster.spi.Periodic;
import io.roster.spi.RetryTask;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.http.WebSocket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Watches services the way Kratos does not: every watcher gets full lists, a first list even when the service is
 * empty or unknown, and keeps the last list through an outage.
 *
 * <p>Service-center pushes instance changes over a websocket, {@code /microservices/{consumerId}/watcher}, to the
 * consumer microservice that found the provider ({@code find} with {@code X-ConsumerId} records the dependency).
 * So the registry keeps one consumer microservice (option {@code consumer}, default {@code roster-consumer}, in the
 * registry's app and environment; created or reused, it has no instances and so never shows in
 * {@code services()}) and one websocket for all its watched services. An event is only a signal: the service it
 * names is read again, whole, with {@code find} and the last {@code X-Resource-Revision} (a {@code 304} costs no
 * body), and the full list is pushed. Every service is read again when the websocket (re)connects, and every
 * {@code refresh} interval (default 15 s) in case an event was missed: service-center records a new dependency
 * asynchronously, and a half-open connection delivers nothing.
 *
 * <p>An unknown service (error 400012) is an empty list. Service-center records a dependency only on a provider
 * that exists, so no event announces a watched service's first microservice: unknown services are looked for
 * every {@link #UNKNOWN_POLL} (2 s) until they appear. Failed reads push nothing, so watchers keep the last list,
 * and are retried with backoff and no ceiling. The websocket reconnects with backoff; the consumer microservice is
 * looked up (and created again, after a server that lost its data) before each connection.
 */
final class ServiceCombWatch implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ServiceCombWatch.class);
    /** The consumer microservice's version. */
    static final String CONSUMER_VERSION = "1.0.0";
    /** A connection that lived less than this is flapping: the next one waits for a backoff delay. */
    private static final Duration FLAPPING = Duration.ofSeconds(5);
    /** How often a watched service that service-center does not know yet is looked for. */
    static final Duration UNKNOWN_POLL = Duration.ofSeconds(2);

    private final ServiceCombClient client;
    private final ServiceCombConfig config;
    private final ScheduledExecutorService scheduler;
    private final String description;
    private final Map<String, Topic> topics = new ConcurrentHashMap<>();
    private final RetryTask connector;
    private final Backoff flapping = Backoff.defaults();
    private final ScheduledFuture<?> refresher;
    private volatile String consumerId;
    private volatile WebSocket socket;
    private volatile ServiceCombClient.WatchSocket channel; // the client carrying the socket, or its opening
    private volatile long connectedAt;
    private long lastFullRefresh = System.nanoTime(); // the refresher's own
    private volatile boolean closed;

    ServiceCombWatch(ServiceCombClient client, ServiceCombConfig config, ScheduledExecutorService scheduler,
                     String description) {
        this.client = client;
        this.config = config;
        this.scheduler = scheduler;
        this.description = description;
        this.connector = new RetryTask("connect the watcher websocket of " + description, scheduler,
                Backoff.defaults(), this::connect);
        Duration tick = config.refresh.compareTo(UNKNOWN_POLL) < 0 ? config.refresh : UNKNOWN_POLL;
        this.refresher = Periodic.withFixedDelay(scheduler, "refresh watched services on " + description,
                tick, tick, this::refresh);
    }

    /**
     * Reads unknown services again every tick, every service every {@code refresh}: service-center records a
     * consumer's dependency only on a provider that exists, so no event announces a service's first microservice.
     */
    private void refresh() {
        boolean all = System.nanoTime() - lastFullRefresh >= config.refresh.toNanos() - UNKNOWN_POLL.toNanos() / 10;
        if (all) {
            lastFullRefresh = System.nanoTime();
        }
        for (Topic topic : topics.values()) {
            if (all || topic.unknown) {
                topic.reader.trigger();
            }
        }
    }

    /** The consumer microservice's identity. */
    ServiceCombFormat.ServiceKey consumerKey() {
        return new ServiceCombFormat.ServiceKey(config.environment, config.app, config.consumer, CONSUMER_VERSION);
    }

    /**
     * Starts following a service: reads it at once (waiting at most the request timeout for the first list) and
     * from then on after every event for it.
     */
    WatchHub.Subscription subscribe(String service, WatchHub.Sink sink) {
        Topic topic = new Topic(service, sink);
        topics.put(service, topic);
        topic.reader.trigger();
        if (socket == null) {
            connector.trigger();
        }
        topic.awaitFirst(config.timeout.plus(config.timeout));
        return () -> {
            topics.remove(service, topic);
            topic.reader.close();
        };
    }

    /** Whether the websocket is open, for tests. */
    boolean connected() {
        return socket != null;
    }

    /** The consumer microservice's id, looked up or created when not known. */
    private String consumer() throws IOException, InterruptedException {
        String id = consumerId;
        if (id == null) {
            id = client.ensureService(consumerKey());
            consumerId = id;
        }
        return id;
    }

    /** One attempt of the connector: make sure the consumer exists, open the websocket, then read everything. */
    private void connect() throws Exception {
        if (closed || socket != null) {
            return;
        }
        consumerId = null; // the server may have lost it (restarted without its data): look it up again
        String id = consumer();
        Listener listener = new Listener();
        ServiceCombClient.WatchSocket opened = client.watch(id, listener);
        channel = opened;
        WebSocket ws;
        try {
            ws = opened.opening().get(config.timeout.toNanos() * 2, TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            opened.close();
            throw new IOException("no websocket within " + config.timeout.multipliedBy(2).toMillis() + " ms", e);
        } catch (ExecutionException e) {
            opened.close();
            throw e.getCause() instanceof Exception ? (Exception) e.getCause() : e;
        }
        if (closed) {
            opened.close();
            return;
        }
        connectedAt = System.nanoTime();
        socket = ws;
        if (listener.ended) {
            socket = null;
            opened.close();
            throw new IOException("the watcher websocket closed as soon as it opened");
        }
        LOG.debug("{}: watcher websocket open for consumer {}", description, id);
        topics.values().forEach(t -> t.reader.trigger()); // whatever changed while disconnected
    }

    private void disconnected(WebSocket ws, String why) {
        if (socket != ws) {
            return; // not connected yet (connect() sees it ended) or already replaced
        }
        socket = null;
        ServiceCombClient.WatchSocket ended = channel;
        if (ended != null) {
            ended.close(); // its client and threads go with it; a reconnect makes new ones
        }
        if (closed) {
            return;
        }
        boolean flapped = System.nanoTime() - connectedAt < FLAPPING.toNanos();
        Duration delay = flapped ? flapping.next() : Duration.ZERO;
        if (!flapped) {
            flapping.reset();
        }
        LOG.info("{}: watcher websocket closed ({}), reconnecting in {} ms; watchers keep their lists",
                description, why, delay.toMillis());
        try {
            scheduler.schedule(connector::trigger, delay.toNanos(), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // the registry is closing
        }
    }

    /** An instance event: read the service it names again, if watched. */
    private void event(String text) {
        JsonNode event;
        try {
            event = ServiceCombFormat.JSON.readTree(text);
        } catch (IOException e) {
            event = null;
        }
        if (event == null || !event.isObject() || !event.has("action")) {
            // Service-center answers a watch it cannot establish with a plain text message and closes the socket
            // ("service does not exist" when the consumer is gone): the reconnect creates the consumer again.
            LOG.info("{}: watcher websocket says: {}", description, text.length() > 200 ? text.substring(0, 200)
                    : text);
            consumerId = null;
            return;
        }
        JsonNode key = event.get("key");
        String service = ServiceCombFormat.text(key, "serviceName");
        String app = ServiceCombFormat.text(key, "appId");
        Topic topic = topics.get(service);
        if (topic != null && (app.isEmpty() || app.equals(config.app))) {
            LOG.debug("{}: {} event for service '{}'", description, ServiceCombFormat.text(event, "action"), service);
            topic.reader.trigger();
        }
    }

    /** Stops reading and closes the websocket. */
    @Override
    public void close() {
        closed = true;
        refresher.cancel(false);
        connector.close();
        topics.values().forEach(t -> t.reader.close());
        topics.clear();
        socket = null;
        ServiceCombClient.WatchSocket c = channel;
        if (c != null) {
            c.close(); // aborts the websocket, or the one its handshake makes
        }
    }

    /** One watched service: its last revision, its reader and its sink. */
    private final class Topic {
        final String service;
        final WatchHub.Sink sink;
        final RetryTask reader;
        final CompletableFuture<Void> first = new CompletableFuture<>();
        private String revision = ""; // touched by the reader only, one run at a time
        private boolean empty = true; // whether the last list pushed was empty; the reader's
        volatile boolean unknown; // service-center does not know the service (yet)

        Topic(String service, WatchHub.Sink sink) {
            this.service = service;
            this.sink = sink;
            this.reader = new RetryTask("read service '" + service + "' on " + description, scheduler,
                    Backoff.defaults(), this::read);
        }

        void awaitFirst(Duration bound) {
            try {
                first.get(bound.toNanos(), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException e) {
                LOG.debug("{}: no first list for '{}' within {} ms, watching on", description, service,
                        bound.toMillis());
            }
        }

        void read() throws IOException, InterruptedException {
            if (closed) {
                return;
            }
            try {
                if (!ServiceCombFormat.FIND_NAME.matcher(service).matches()) {
                    deliver(List.of()); // a name service-center cannot hold has no instances
                    return;
                }
                String consumer = consumer();
                ServiceCombClient.Found found = client.find(service, consumer, revision);
                if (found.notModified) {
                    first.complete(null);
                    return;
                }
                if (found.answer == null) {
                    // 400012 names the provider or the consumer. Before emptying a list, make sure it is the
                    // provider: if the consumer is gone, it is made again and the service read again.
                    if (!empty && client.existence(consumerKey()).isEmpty()) {
                        consumerId = null;
                        throw new IOException("the consumer microservice " + consumerKey() + " is gone");
                    }
                    revision = "";
                    unknown = true;
                    deliver(List.of());
                    return;
                }
                unknown = false;
                List<ServiceInstance> instances = ServiceCombFormat.instances(found.answer, service,
                        description + " service '" + service + "'");
                revision = found.revision;
                deliver(instances);
            } catch (IOException | InterruptedException | RuntimeException e) {
                first.complete(null); // watch() returns; the watcher waits for the first list that comes
                throw e;
            }
        }

        private void deliver(List<ServiceInstance> instances) {
            if (closed) {
                return;
            }
            empty = instances.isEmpty();
            try {
                sink.accept(instances);
            } catch (RuntimeException e) {
                LOG.warn("{}: delivering the list of '{}' failed: {}", description, service, Failures.describe(e));
            }
            first.complete(null);
        }
    }

    /** Receives the websocket's messages: text events, assembled from their parts. */
    private final class Listener implements WebSocket.Listener {
        private final StringBuilder text = new StringBuilder();
        volatile boolean ended;

        @Override
        public void onOpen(WebSocket webSocket) {
            webSocket.request(1);
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            text.append(data);
            if (last) {
                String message = text.toString();
                text.setLength(0);
                try {
                    event(message);
                } catch (RuntimeException e) {
                    LOG.warn("{}: handling a watch event failed: {}", description, Failures.describe(e));
                }
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket webSocket, java.nio.ByteBuffer data, boolean last) {
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            ended = true;
            disconnected(webSocket, "status " + statusCode + (reason == null || reason.isEmpty() ? "" : " " + reason));
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            ended = true;
            disconnected(webSocket, Failures.describe(error));
        }
    }
}
