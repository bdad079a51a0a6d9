package io.roster.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.common.exception.CompactedException;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.options.GetOption;
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
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Follows one service for the {@link WatchHub}: reads the prefix once, then watches it from the next revision and
 * applies each PUT and DELETE to a local map, pushing the full list after each change. A change therefore costs
 * one event, not a read of the whole prefix (Kratos reads it all again on every event).
 *
 * <p>When the watch fails (connection lost, member gone, compaction, leader lost), the prefix is read again and
 * the watch resumes from that read's revision: the next list pushed is the complete state at that revision,
 * never an empty or older one; nothing is pushed while etcd is unreachable.
 */
final class EtcdWatcher implements WatchHub.Subscription {
    private static final Logger LOG = LoggerFactory.getLogger(EtcdWatcher.class);

    private final EtcdConnection etcd;
    private final String service;
    private final ByteSequence prefix;
    private final Consumer<List<ServiceInstance>> sink;
    private final ScheduledExecutorService scheduler;
    private final RetryTask resync;

    // Guarded by this. Never call jetcd while holding it: jetcd calls back under its own lock.
    private final Map<String, ServiceInstance> instances = new HashMap<>();
    private final Backoff streamBackoff = Backoff.defaults();
    private long revision;
    private int generation;
    private Watch.Watcher stream;
    private boolean closed;

    EtcdWatcher(EtcdConnection etcd, String service, String prefix,
                Consumer<List<ServiceInstance>> sink, ScheduledExecutorService scheduler) {
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

    /** Reads the whole prefix, replaces the list in one step, and watches from the revision after the read. */
    private void read() {
        GetResponse response = etcd.call("watch " + service, () -> etcd.client().getKVClient()
                .get(prefix, GetOption.builder().isPrefix(true).build()));
        int gen;
        long from;
        synchronized (this) {
            if (closed) {
                return;
            }
            instances.clear();
            for (KeyValue kv : response.getKvs()) {
                EtcdRegistry.decode(kv, service).ifPresent(i -> instances.put(key(kv), i));
            }
            revision = response.getHeader().getRevision();
            publish();
            gen = ++generation;
            from = revision + 1;
        }
        Watch.Watcher opened = etcd.client().getWatchClient().watch(prefix, WatchOption.builder()
                        .isPrefix(true)
                        .withRevision(from)
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

    private void onResponse(int gen, WatchResponse response) {
        synchronized (this) {
            if (closed || gen != generation) {
                return;
            }
            streamBackoff.reset(); // the stream works (created, or events)
            boolean changed = false;
            for (WatchEvent event : response.getEvents()) {
                KeyValue kv = event.getKeyValue();
                String key = key(kv);
                revision = Math.max(revision, kv.getModRevision());
                switch (event.getEventType()) {
                    case PUT:
                        Optional<ServiceInstance> instance = EtcdRegistry.decode(kv, service);
                        ServiceInstance before = instance.isPresent() ? instances.put(key, instance.get())
                                : instances.remove(key);
                        changed |= !Objects.equals(before, instance.orElse(null));
                        break;
                    case DELETE:
                        changed |= instances.remove(key) != null;
                        break;
                    default:
                        break;
                }
            }
            if (changed) {
                publish();
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

    /** Under this object's lock, so that pushes reach the hub in order. */
    private void publish() {
        sink.accept(new ArrayList<>(instances.values()));
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
