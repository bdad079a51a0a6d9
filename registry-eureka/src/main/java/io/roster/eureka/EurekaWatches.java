package io.roster.eureka;

import io.roster.RegistryClosedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * Follows every watched service of one registry with one poller, since Eureka has no push. It runs at a fixed rate
 * (one run per refresh interval, however long a run takes) on the registry's refresh thread, and reads what
 * changed rather than everything, the way Eureka's own Java client does:
 *
 * <ul>
 *   <li>{@code GET apps/delta}: the instances registered, changed or removed in the server's retention window
 *       (three minutes by default), registry-wide, with the hash code of the whole registry ({@code UP_12_DOWN_1_}:
 *       the instance count per status). The changes are applied to the records of the watched applications and to
 *       the registry-wide status counts; when the counts do not give the server's hash code, something was missed
 *       and the run reads everything instead. An answer identical to the last one is not parsed again.</li>
 *   <li>{@code GET apps}, everything: first, after a hash mismatch, and after a gap of more than {@link #MAX_GAP}
 *       since the last read (longer than that, the server may have dropped changes from its window). A service
 *       watched once deltas are under way is read alone ({@code GET apps/<APP>}), and deltas apply to it from
 *       then on.</li>
 *   <li>{@code GET apps/<APP>} per watched application when the server offers no deltas (HTTP 403:
 *       {@code eureka.server.disable-delta}) or its hash code cannot be reproduced; retried after
 *       {@link #DELTA_RETRY}. An answer identical to the last one is not parsed again.</li>
 *   <li>{@code GET apps/<APP>} per watched application, smallest first, also while the delta holds more records
 *       than the watched applications together (plus {@link #RECORDS_PER_REQUEST} per application): after a large
 *       deployment anywhere, the delta repeats its thousands of changes on every read for three minutes, and every
 *       watcher would wait for them; small applications read alone are seen at once. Deltas are asked for again
 *       after {@link #DELTA_WINDOW}, when those changes have left the window.</li>
 * </ul>
 *
 * <p>Only records that changed are decoded, and only the instances they belong to go to the hub, keyed by
 * instance ({@link WatchHub.Sink#apply}): a change costs O(change), not O(service). A failed run pushes nothing,
 * so watchers keep the last list until the server answers again.
 */
final class EurekaWatches {
    private static final Logger LOG = LoggerFactory.getLogger(EurekaWatches.class);
    /** Longest time between two reads for which the server's delta window (3 min by default) is trusted. */
    static final Duration MAX_GAP = Duration.ofSeconds(120);
    /** How long to read per application after the server refused deltas, before asking for them again. */
    static final Duration DELTA_RETRY = Duration.ofMinutes(5);
    /** Eureka's delta window ({@code retentionTimeInMSInDeltaQueue}, 3 min by default). */
    static final Duration DELTA_WINDOW = Duration.ofMinutes(3);
    /** What one more request costs, counted in records read, when choosing between the delta and per-app reads. */
    static final int RECORDS_PER_REQUEST = 20;
    private static final byte[] NO_APPLICATION = new byte[0];

    private final String description;
    private final EurekaClient client;
    private final boolean upOnly;
    private final BiConsumer<String, String> skipped;
    private final ScheduledExecutorService scheduler;
    private final long period;
    private final Map<String, Watch> watches = new ConcurrentHashMap<>(); // by service
    private ScheduledFuture<?> task; // guarded by this

    // Confined to the refresh thread.
    private final Map<String, App> apps = new HashMap<>(); // watched applications, by key(app)
    private final Map<String, String> statuses = new HashMap<>(); // "<APP>/<instanceId>" -> status, registry-wide
    private Map<String, Integer> counts = new TreeMap<>(); // status -> instances, registry-wide
    private boolean baseline; // statuses and apps are a full read plus every delta since
    private long lastRead; // System.nanoTime() of the last successful read
    private byte[] lastDelta;
    private boolean deltaOff;
    private long deltaOffAt;
    private boolean perApp; // the delta is larger than the watched applications: read those instead
    private long perAppAt;
    private boolean failing;

    /**
     * Creates the poller; it starts with the first subscription.
     *
     * @param description names the registry in logs
     * @param client the server
     * @param upOnly whether only {@code UP} instances are listed
     * @param skipped told about each record that cannot be read
     * @param scheduler the refresh thread
     * @param refresh the polling period
     */
    EurekaWatches(String description, EurekaClient client, boolean upOnly, BiConsumer<String, String> skipped,
                  ScheduledExecutorService scheduler, Duration refresh) {
        this.description = description;
        this.client = client;
        this.upOnly = upOnly;
        this.skipped = skipped;
        this.scheduler = scheduler;
        this.period = refresh.toNanos();
    }

    /**
     * Follows a service: its first list is read at once, then changes as they are polled.
     *
     * @param service the service; the hub opens one subscription per service
     * @param sink where the service's instances go
     * @return ends following it
     * @throws RegistryClosedException when the registry is closing
     */
    WatchHub.Subscription subscribe(String service, WatchHub.Sink sink) {
        Watch watch = new Watch(service, sink);
        watches.put(service, watch);
        try {
            synchronized (this) {
                if (task == null) {
                    task = scheduler.scheduleAtFixedRate(this::run, 0, period, TimeUnit.NANOSECONDS);
                } else {
                    scheduler.execute(this::run); // the first list now, not up to one period later
                }
            }
        } catch (RejectedExecutionException e) {
            watches.remove(service, watch);
            throw new RegistryClosedException(description + " is closed");
        }
        return () -> unsubscribe(watch);
    }

    private void unsubscribe(Watch watch) {
        watches.remove(watch.service, watch);
        synchronized (this) {
            if (watches.isEmpty() && task != null) {
                task.cancel(false);
                task = null;
                try {
                    scheduler.execute(this::forgetIfUnwatched);
                } catch (RejectedExecutionException e) {
                    // closing: the state goes with the registry
                }
            }
        }
    }

    private void forgetIfUnwatched() {
        if (watches.isEmpty()) {
            apps.clear();
            statuses.clear();
            counts = new TreeMap<>();
            baseline = false;
            lastDelta = null;
        }
    }

    private void run() {
        try {
            poll();
            if (failing) {
                LOG.info("{}: eureka answers again, watchers follow it", description);
                failing = false;
            }
        } catch (RegistryException e) {
            if (Thread.currentThread().isInterrupted()) {
                return; // close() interrupted the read: nothing failed
            }
            if (!failing) {
                LOG.warn("{}: refreshing watched services failed, watchers keep their last lists until eureka "
                        + "answers: {}", description, e.getMessage());
                failing = true;
            }
        } catch (Throwable t) {
            // Never let the periodic task die: a scheduled task that throws is not run again.
            LOG.error("{}: refreshing watched services failed", description, t);
        }
    }

    private void poll() {
        List<Watch> now = new ArrayList<>(watches.values());
        if (now.isEmpty()) {
            return;
        }
        Set<String> watched = new HashSet<>();
        now.forEach(w -> watched.add(w.key));
        apps.keySet().retainAll(watched);
        watched.forEach(k -> apps.computeIfAbsent(k, App::new));
        if (deltaOff && System.nanoTime() - deltaOffAt > DELTA_RETRY.toNanos()) {
            deltaOff = false;
        }
        if (perApp && System.nanoTime() - perAppAt > DELTA_WINDOW.toNanos()) {
            perApp = false; // baseline is false: everything is read once, then deltas are weighed again
        }
        try {
            if (!deltaOff && !perApp && baseline && System.nanoTime() - lastRead < MAX_GAP.toNanos()) {
                // A service watched since: its application alone, then deltas apply to it like to the others.
                readEach(now, true);
                Optional<byte[]> delta = client.delta();
                if (delta.isEmpty()) {
                    deltaOff("the server offers no registry delta (HTTP 403: eureka.server.disable-delta, or a "
                            + "node not serving reads yet)");
                } else if (applyDelta(delta.get(), now)) {
                    lastRead = System.nanoTime();
                    return;
                } else {
                    LOG.debug("{}: the registry delta does not add up to the server's hash code, reading all",
                            description);
                }
            }
            if (deltaOff || perApp) {
                readEach(now, false);
            } else {
                readAll(now);
            }
            lastRead = System.nanoTime();
        } catch (UncheckedIOException e) {
            // Not Eureka answering (a proxy's error page, say): as good as no answer.
            throw new RegistryUnavailableException("refresh watched services failed: " + description
                    + " answered with something that is not JSON", e);
        }
    }

    private void deltaOff(String why) {
        if (!deltaOff) {
            LOG.info("{}: {}; reading each watched application in full, and asking for deltas again in {} min",
                    description, why, DELTA_RETRY.toMinutes());
        }
        deltaOff = true;
        deltaOffAt = System.nanoTime();
        baseline = false;
        lastDelta = null;
    }

    /** Reads the whole registry: the baseline that deltas are applied to. */
    private void readAll(List<Watch> now) {
        byte[] body = client.applications();
        Map<String, String> all = new HashMap<>();
        Map<String, List<EurekaInstances.Entry>> read = new HashMap<>();
        apps.keySet().forEach(k -> read.put(k, new ArrayList<>()));
        String hash = EurekaInstances.scan(body, scanned -> {
            String key = key(scanned.app());
            all.put(key + "/" + scanned.instanceId(), scanned.status());
            List<EurekaInstances.Entry> entries = read.get(key);
            if (entries != null) {
                entries.add(entry(apps.get(key), scanned, body));
            }
        });
        statuses.clear();
        statuses.putAll(all);
        counts = new TreeMap<>();
        all.values().forEach(status -> counts.merge(status, 1, Integer::sum));
        read.forEach((key, entries) -> publish(key, replace(apps.get(key), entries), now));
        lastDelta = null;
        String mine = hash(counts);
        baseline = mine.equals(hash);
        if (!baseline) {
            deltaOff(hash == null ? "the server's answer has no apps__hashcode to check deltas against"
                    : "the server's apps__hashcode " + hash + " is not the instance count per status Roster "
                    + "reads (" + mine + ")");
        }
    }

    /**
     * Reads watched applications in full: each one, for servers without deltas; or only those that no watch
     * follows yet, for new watches (a new watch of an application already followed starts from its records).
     */
    private void readEach(List<Watch> now, boolean newOnly) {
        Map<String, String> requested = new LinkedHashMap<>();
        Set<String> followed = new HashSet<>();
        now.stream().filter(w -> w.seeded).forEach(w -> followed.add(w.key));
        List<Watch> bySize = new ArrayList<>(now);
        bySize.sort(Comparator.comparingInt(w -> apps.get(w.key).records.size())); // small ones are seen first
        for (Watch w : bySize) {
            if (!newOnly) {
                requested.putIfAbsent(w.key, w.app);
            } else if (!w.seeded && followed.contains(w.key)) {
                publish(w.key, Set.of(), now);
            } else if (!w.seeded) {
                requested.putIfAbsent(w.key, w.app);
            }
        }
        for (Map.Entry<String, String> e : requested.entrySet()) {
            App app = apps.get(e.getKey());
            byte[] body = client.application(e.getValue()).orElse(NO_APPLICATION);
            boolean unseeded = now.stream().anyMatch(w -> w.key.equals(app.key) && !w.seeded);
            if (!unseeded && Arrays.equals(body, app.lastBody)) {
                continue; // the same answer as last time: nothing changed
            }
            List<EurekaInstances.Entry> entries = new ArrayList<>();
            if (body.length > 0) {
                EurekaInstances.scan(body, scanned -> entries.add(entry(app, scanned, body)));
            }
            app.lastBody = body;
            publish(app.key, replace(app, entries), now);
        }
    }

    /**
     * Applies one delta, if it adds up.
     *
     * @return false when the registry-wide counts after it do not give the delta's hash code: nothing was
     *     applied, read everything
     */
    private boolean applyDelta(byte[] body, List<Watch> now) {
        if (Arrays.equals(body, lastDelta)) {
            return true; // the server's cached delta has not changed since the last run
        }
        Map<String, String> changedStatuses = new HashMap<>(); // value null: removed
        Map<String, Map<String, EurekaInstances.Entry>> changed = new HashMap<>(); // watched apps only
        String hash = EurekaInstances.scan(body, scanned -> {
            String key = key(scanned.app());
            boolean deleted = "DELETED".equals(scanned.actionType());
            changedStatuses.put(key + "/" + scanned.instanceId(), deleted ? null : scanned.status());
            App app = apps.get(key);
            if (app != null) {
                changed.computeIfAbsent(key, k -> new HashMap<>()).put(scanned.instanceId(),
                        deleted ? null : entry(app, scanned, body));
            }
        });
        Map<String, Integer> after = new TreeMap<>(counts);
        changedStatuses.forEach((instance, status) -> {
            String before = statuses.get(instance);
            if (before != null) {
                after.merge(before, -1, Integer::sum);
            }
            if (status != null) {
                after.merge(status, 1, Integer::sum);
            }
        });
        if (!hash(after).equals(hash)) {
            return false;
        }
        changedStatuses.forEach((instance, status) -> {
            if (status == null) {
                statuses.remove(instance);
            } else {
                statuses.put(instance, status);
            }
        });
        counts = after;
        changed.forEach((key, records) -> publish(key, apply(apps.get(key), records), now));
        lastDelta = body;
        int watched = apps.values().stream().mapToInt(a -> a.records.size()).sum();
        if (changedStatuses.size() > watched + RECORDS_PER_REQUEST * apps.size()) {
            LOG.debug("{}: the registry delta holds {} records, the watched applications {}: reading those for {} s",
                    description, changedStatuses.size(), watched, DELTA_WINDOW.toSeconds());
            perApp = true;
            perAppAt = System.nanoTime();
            baseline = false;
            lastDelta = null;
            apps.values().forEach(a -> a.lastBody = null);
        }
        return true;
    }

    /**
     * The record of a scanned instance: the one held already when the instance did not change (a delta repeats
     * every change of its window on every read, and most of a full read is unchanged), else parsed from the answer.
     */
    private static EurekaInstances.Entry entry(App app, EurekaInstances.Scanned scanned, byte[] body) {
        EurekaInstances.Entry held = app.records.get(scanned.instanceId());
        return held != null && held.hash() == scanned.hash() && held.status().equals(scanned.status()) ? held
                : scanned.entry(body);
    }

    /** Eureka's reconcile hash code: {@code <STATUS>_<count>_} for each status present, in status order. */
    static String hash(Map<String, Integer> counts) {
        StringBuilder sb = new StringBuilder();
        counts.forEach((status, n) -> {
            if (n > 0) {
                sb.append(status).append('_').append(n).append('_');
            }
        });
        return sb.toString();
    }

    /** Replaces every record of an application; returns the groups that changed. */
    private static Set<String> replace(App app, List<EurekaInstances.Entry> entries) {
        Map<String, EurekaInstances.Entry> changes = new HashMap<>();
        entries.forEach(e -> changes.put(e.instanceId(), e));
        app.records.keySet().forEach(id -> changes.putIfAbsent(id, null));
        return apply(app, changes);
    }

    /** Applies record changes (null: removed) to an application; returns the groups that changed. */
    private static Set<String> apply(App app, Map<String, EurekaInstances.Entry> changes) {
        Set<String> dirty = new HashSet<>();
        changes.forEach((id, entry) -> {
            EurekaInstances.Entry old = app.records.get(id);
            if (Objects.equals(old, entry)) {
                return; // read again unchanged (a delta repeats its window on every read)
            }
            if (old != null) {
                Map<String, EurekaInstances.Entry> group = app.groups.get(old.group());
                group.remove(id);
                if (group.isEmpty()) {
                    app.groups.remove(old.group());
                }
                app.records.remove(id);
                dirty.add(old.group());
            }
            if (entry != null) {
                app.records.put(id, entry);
                app.groups.computeIfAbsent(entry.group(), g -> new HashMap<>()).put(id, entry);
                dirty.add(entry.group());
            }
        });
        return dirty;
    }

    /** Tells the watches of an application: everything to a new one, the changed instances to the others. */
    private void publish(String key, Set<String> dirty, List<Watch> now) {
        App app = apps.get(key);
        for (Watch watch : now) {
            if (!watch.key.equals(key)) {
                continue;
            }
            if (!watch.seeded) {
                Map<String, ServiceInstance> all = new HashMap<>();
                app.groups.forEach((group, members) -> EurekaInstances.decodeGroup(watch.service,
                        members.values(), upOnly, skipped).ifPresent(i -> all.put(group, i)));
                watch.sink.reset(all);
                watch.seeded = true;
            } else if (!dirty.isEmpty()) {
                Map<String, ServiceInstance> put = new HashMap<>();
                List<String> removed = new ArrayList<>();
                for (String group : dirty) {
                    Map<String, EurekaInstances.Entry> members = app.groups.get(group);
                    Optional<ServiceInstance> instance = members == null ? Optional.empty()
                            : EurekaInstances.decodeGroup(watch.service, members.values(), upOnly, skipped);
                    if (instance.isPresent()) {
                        put.put(group, instance.get());
                    } else {
                        removed.add(group);
                    }
                }
                watch.sink.apply(put, removed);
            }
        }
    }

    /** Eureka upper-cases application names with Java's {@code toUpperCase}; so do keys here. */
    private static String key(String app) {
        return app.toUpperCase(Locale.ROOT);
    }

    /** One watched service. */
    private static final class Watch {
        final String service;
        final String app;
        final String key;
        final WatchHub.Sink sink;
        boolean seeded; // confined to the refresh thread: its first list has gone out

        Watch(String service, WatchHub.Sink sink) {
            this.service = service;
            this.app = EurekaInstances.app(service);
            this.key = key(app);
            this.sink = sink;
        }
    }

    /** The records of one watched application, by instance id and by instance group. */
    private static final class App {
        final String key;
        final Map<String, EurekaInstances.Entry> records = new HashMap<>();
        final Map<String, Map<String, EurekaInstances.Entry>> groups = new HashMap<>();
        byte[] lastBody; // the last GET apps/<APP> answer, when reading per application

        App(String key) {
            this.key = key;
        }
    }
}
