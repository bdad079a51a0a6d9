package io.roster.kubernetes;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import io.roster.ServiceInstance;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiFunction;

/**
 * One watched service, followed by fabric8 informers: the pods labelled {@code kratos-service-app=<name>}, or a
 * Service's EndpointSlices plus the Service itself (for its labels).
 *
 * <p>Level-triggered, as client-go controllers are: an informer's event only marks its object's key dirty (never
 * blocking the informer's thread), and the registry's watch thread reads the dirty objects back from the informer's
 * store, which always holds their newest state, and pushes what changed into the {@link WatchHub.Sink} keyed by object.
 * A change of one pod costs one store read and one decode, whatever the number of pods; events replayed or reordered
 * by a relist cannot push an older state. A change of the Service (service mode) re-reads every slice.
 *
 * <p>While the API server is unreachable the informers keep their stores and retry with backoff, so watchers keep the
 * last list; when they are back, the relist marks whatever changed meanwhile.
 */
final class KubernetesWatch implements WatchHub.Subscription {
    private static final Logger LOG = LoggerFactory.getLogger(KubernetesWatch.class);

    private final String what;
    private final SharedIndexInformer<? extends HasMetadata> primary;
    private final SharedIndexInformer<? extends HasMetadata> secondary;
    private final BiFunction<String, HasMetadata, Map<String, ServiceInstance>> read;
    private final WatchHub.Sink sink;
    private final ScheduledExecutorService thread;

    private final Set<String> dirty = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean everything = new AtomicBoolean();
    private final AtomicBoolean scheduled = new AtomicBoolean();
    /** The instance keys each object produced last time; touched on the watch thread only. */
    private final Map<String, Collection<String>> keysByObject = new HashMap<>();
    private volatile boolean started;
    private volatile boolean closed;

    /**
     * Creates the watch; nothing runs until {@link #start}.
     *
     * @param what names the watch in logs, such as {@code pods of greeter in shop}
     * @param primary the informer whose objects become instances (pods, slices), not started
     * @param secondary an informer whose every change re-reads all primary objects (the Service), or null
     * @param read turns a primary object (with its store key) into instances keyed uniquely
     * @param sink where instances go
     * @param thread the registry's watch thread: every read and sink call happens there, one at a time
     */
    KubernetesWatch(String what, SharedIndexInformer<? extends HasMetadata> primary,
                    SharedIndexInformer<? extends HasMetadata> secondary,
                    BiFunction<String, HasMetadata, Map<String, ServiceInstance>> read, WatchHub.Sink sink,
                    ScheduledExecutorService thread) {
        this.what = what;
        this.primary = primary;
        this.secondary = secondary;
        this.read = read;
        this.sink = sink;
        this.thread = thread;
    }

    /**
     * Starts the informers and waits until they have listed everything, then pushes the first list.
     *
     * @param timeout how long the first list may take
     * @throws Exception the informers' start failure (an {@link ExecutionException} wrapping the client's error),
     *     or a {@link TimeoutException}; the informers are closed then
     */
    void start(Duration timeout) throws Exception {
        List<CompletableFuture<Void>> starts = new ArrayList<>();
        try {
            starts.add(start(primary, this::markDirty));
            if (secondary != null) {
                starts.add(start(secondary, key -> markEverything()));
            }
            CompletableFuture.allOf(starts.toArray(new CompletableFuture<?>[0]))
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            started = true;
            // The first list goes through the watch thread too, so that it cannot overtake or follow a change.
            thread.submit(this::resetAll).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            close();
            throw e;
        }
    }

    private <T extends HasMetadata> CompletableFuture<Void> start(SharedIndexInformer<T> informer,
                                                                   java.util.function.Consumer<String> onChange) {
        informer.addEventHandler(new ResourceEventHandler<T>() {
            @Override
            public void onAdd(T obj) {
                onChange.accept(Cache.metaNamespaceKeyFunc(obj));
            }

            @Override
            public void onUpdate(T oldObj, T newObj) {
                onChange.accept(Cache.metaNamespaceKeyFunc(newObj));
            }

            @Override
            public void onDelete(T obj, boolean deletedFinalStateUnknown) {
                onChange.accept(Cache.metaNamespaceKeyFunc(obj));
            }
        });
        // A failure before the first list fails the watch (the caller hears of it); after it, always retry: the store
        // and so the watchers' list stay as they are until the API server answers again.
        informer.exceptionHandler((isStarted, t) -> {
            if (isStarted) {
                LOG.debug("{}: informer interrupted, retrying: {}", what, t.toString());
            }
            return isStarted;
        });
        return informer.start().toCompletableFuture();
    }

    private void markDirty(String key) {
        dirty.add(key);
        schedule();
    }

    private void markEverything() {
        everything.set(true);
        schedule();
    }

    private void schedule() {
        if (!closed && scheduled.compareAndSet(false, true)) {
            try {
                thread.execute(this::drain);
            } catch (RejectedExecutionException e) {
                // the registry is closing
            }
        }
    }

    /** On the watch thread: applies what changed since the last run. */
    private void drain() {
        scheduled.set(false);
        if (closed || !started) {
            return; // before the first list, resetAll reads everything anyway
        }
        try {
            if (everything.getAndSet(false)) {
                resetAll();
                return;
            }
            Map<String, ServiceInstance> put = new HashMap<>();
            List<String> removed = new ArrayList<>();
            for (Iterator<String> it = dirty.iterator(); it.hasNext(); ) {
                String key = it.next();
                it.remove();
                HasMetadata obj = primary.getStore().getByKey(key);
                Map<String, ServiceInstance> now = obj == null ? Map.of() : read.apply(key, obj);
                Collection<String> before = now.isEmpty() ? keysByObject.remove(key) : keysByObject.put(key, now.keySet());
                if (before != null) {
                    before.stream().filter(k -> !now.containsKey(k)).forEach(removed::add);
                }
                put.putAll(now);
            }
            if (!put.isEmpty() || !removed.isEmpty()) {
                sink.apply(put, removed);
            }
        } catch (Throwable t) {
            // Never lose the watch to one failure: read everything again, a little later.
            LOG.error("{}: applying a change failed; reading everything again in 1 s", what, t);
            everything.set(true);
            try {
                thread.schedule(this::schedule, 1, TimeUnit.SECONDS);
            } catch (RejectedExecutionException e) {
                // the registry is closing
            }
        }
    }

    /** On the watch thread: reads every object of the store and replaces the whole list. */
    private Void resetAll() {
        if (closed) {
            return null;
        }
        dirty.clear();
        everything.set(false);
        keysByObject.clear();
        Map<String, ServiceInstance> all = new HashMap<>();
        for (HasMetadata obj : primary.getStore().list()) {
            String key = Cache.metaNamespaceKeyFunc(obj);
            Map<String, ServiceInstance> now = read.apply(key, obj);
            if (!now.isEmpty()) {
                keysByObject.put(key, now.keySet());
                all.putAll(now);
            }
        }
        sink.reset(all);
        return null;
    }

    @Override
    public void close() {
        closed = true;
        for (SharedIndexInformer<?> informer : secondary == null ? List.of(primary) : List.of(primary, secondary)) {
            try {
                informer.close(); // stops its watch and drops its handlers
            } catch (RuntimeException e) {
                LOG.debug("{}: closing an informer failed: {}", what, e.toString());
            }
        }
    }

    @Override
    public String toString() {
        return what;
    }
}
