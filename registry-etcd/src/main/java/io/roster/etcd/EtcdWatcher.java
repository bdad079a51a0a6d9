package io.roster.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.common.exception.CompactedException;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import io.roster.ServiceInstance;
import io.roster.spi.Backoff;
import io.roster.spi.RetryTask;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Follows one service for the {@link WatchHub}: reads the prefix once (in pages, at one revision), then watches it
 * from the next revision and passes each changed record to the hub by its etcd key. A change costs the decoding of
 * the changed records and the hub's O(k log n) update, not a read or a rebuild of the whole list (Kratos reads the
 * whole prefix on every event).
 *
 * <p>When the watch fails (connection lost, member gone, compaction, leader lost, an answer too large for the
 * client), the prefix is read again and the watch resumes from that read's revision: the next list pushed is the
 * complete state at that revision, never an empty or older one; nothing is pushed while etcd is unreachable.
 */
final class EtcdWatcher implements WatchHub.Subscription {
    private static final Logger LOG = LoggerFactory.getLogger(EtcdWatcher.class);

    private final EtcdConnection etcd;
    private final String service;
    private final ByteSequence prefix;
    private final WatchHub.Sink sink;
    private final ScheduledExecutorService scheduler;
    private final RetryTask resync;

    // Guarded by this. Never call jetcd while holding it: jetcd calls back under its own lock.
    private final Backoff streamBackoff = Backoff.defaults();
    private int generation;
    private Watch.Watcher stream;
    private boolean closed;

    EtcdWatcher(EtcdConnection etcd, String service, String prefix, WatchHub.Sink sink,
                ScheduledExecutorService scheduler) {
        this.etcd = etcd;
        this.service = service;
        this.prefix = EtcdConnection.bytes(prefix);
        this.sink = sink;
        this.scheduler = scheduler;
        this.resync = new RetryTask(etcd.description() + ": watch '" + service + "'", scheduler, Backoff.defaults(),
                this::read);
    }

    /**
     * Reads the current list, pushes it and starts watching.
     *
     * @throws io.roster.RegistryException when etcd cannot be read; nothing is left running
     */
    void start() {
        read();
    }

    /** Reads the whole prefix, replaces the records in one step, and watches from the revision after the read. */
    private void read() {
        EtcdConnection.Range range = etcd.readPrefix("watch " + service, prefix, false, EtcdConnection::successor);
        Map<String, ServiceInstance> records = new HashMap<>(range.kvs().size() * 4 / 3 + 1);
        for (KeyValue kv : range.kvs()) {
            EtcdRegistry.decode(kv, service).ifPresent(i -> records.put(key(kv), i));
        }
        int gen;
        synchronized (this) {
            if (closed) {
                return;
            }
            sink.reset(records);
            gen = ++generation;
        }
        Watch.Watcher opened = etcd.client().getWatchClient().watch(prefix, WatchOption.builder()
                        .isPrefix(true)
                        .withRevision(range.revision() + 1)
                        .withCreateNotify(true)
                        // A member cut off from the leader cancels the watch, so that it resumes on another.
                        .withRequireLeader(true)
                        .build(),
                Watch.listener(r -> onResponse(gen, r), e -> onFailure(gen, e), () -> onFailure(gen, null)));
        Watch.Watcher stale;
        synchronized (this) {
            stale = stream;
            stream = opened;
            if (closed || gen != generation) {
                stale = opened; // closed or failed meanwhile
                stream = null;
            }
        }
        closeQuietly(stale);
    }

    /** Decodes only the changed records; the last event of a key in one response wins. Called by jetcd in order. */
    private void onResponse(int gen, WatchResponse response) {
        List<WatchEvent> events = response.getEvents();
        Map<String, ServiceInstance> put = new HashMap<>();
        Set<String> removed = new HashSet<>();
        for (WatchEvent event : events) {
            KeyValue kv = event.getKeyValue();
            String key = key(kv);
            Optional<ServiceInstance> instance = event.getEventType() == WatchEvent.EventType.PUT
                    ? EtcdRegistry.decode(kv, service) : Optional.empty();
            if (instance.isPresent()) {
                put.put(key, instance.get());
                removed.remove(key);
            } else {
                // Deleted, or now malformed or another service's: no longer a live instance of this one.
                put.remove(key);
                removed.add(key);
            }
        }
        synchronized (this) {
            if (closed || gen != generation) {
                return;
            }
            streamBackoff.reset(); // the stream works (created, or events)
            if (!events.isEmpty()) {
                sink.apply(put, removed);
            }
        }
    }

    private void onFailure(int gen, Throwable error) {
        Watch.Watcher failed;
        Duration delay;
        synchronized (this) {
            if (closed || gen != generation) {
                return; // closed by us, or an older stream
            }
            generation++;
            failed = stream;
            stream = null;
            delay = streamBackoff.next();
        }
        if (error instanceof CompactedException) {
            LOG.info("{}: watch on '{}' fell behind compaction; reading it again", etcd.description(), service);
        } else if (error != null && EtcdConnection.isAnswerTooLarge(error)) {
            LOG.error("{}: watch on '{}' received an answer larger than the client accepts ({}); reading it "
                    + "again", etcd.description(), service, error.getMessage());
        } else {
            LOG.warn("{}: watch on '{}' interrupted ({}); reading it again", etcd.description(), service,
                    error == null ? "stream ended" : error.toString());
        }
        try {
            // Off jetcd's callback thread: closing a watcher takes the lock jetcd holds while calling us.
            scheduler.execute(() -> closeQuietly(failed));
            scheduler.schedule(resync::trigger, delay.toNanos(), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // the registry is closing
        }
    }

    private static String key(KeyValue kv) {
        return kv.getKey().toString(StandardCharsets.UTF_8);
    }

    private static void closeQuietly(Watch.Watcher watcher) {
        if (watcher != null) {
            try {
                watcher.close();
            } catch (RuntimeException e) {
                LOG.debug("Closing an etcd watch failed: {}", e.toString());
            }
        }
    }

    @Override
    public void close() {
        Watch.Watcher open;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            generation++;
            open = stream;
            stream = null;
        }
        resync.close();
        closeQuietly(open);
    }
}
