package io.roster.zookeeper;

import io.roster.ServiceInstance;
import io.roster.spi.Backoff;
import io.roster.spi.WatchHub;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Follows one service for the {@link WatchHub}, at the cost of what changes: a persistent recursive watch on
 * {@code <root>/<name>} names each child created, changed or deleted; a deleted child is dropped without a read,
 * a created or changed one is read alone, and the change goes to the hub as one keyed {@link WatchHub.Sink#apply}.
 *
 * <p><b>Order.</b> ZooKeeper delivers a connection's watch events and the replies to its asynchronous calls on one
 * thread, in the order the server sent them, and the server answers a read after every change it has notified
 * before. Everything that happens to the subscription (events, replies, resyncs) is therefore put in one inbox in
 * that order and handled on the registry's worker thread: each read reflects at least the events before it, and
 * the list never goes back in time. The inbox is drained in batches, so a burst of changes is one push.
 *
 * <p><b>Resync.</b> On opening and after every reconnection (ZooKeeper does not report changes made while a client
 * was away), the watch is set again and the service read in full, its children concurrently with at most
 * {@link ZooKeeperNodes#MAX_READS_IN_FLIGHT} reads in flight; events meanwhile fold into the same map, and the
 * result replaces the hub's records once the last read is back. Replies to calls of an earlier resync are ignored.
 * A reconnection on the same session is heard on the watch itself, in order with its events; one on a new session
 * (which holds no watch of ours), or before the watch was ever set, through Curator's listener. While the
 * connection is down nothing is pushed: watchers keep the last list. Other failures resync after a backoff.
 *
 * <p>The watch is removed from the client on close (locally, even when the server cannot be told): a registry on a
 * caller's long-lived client leaves nothing behind. Another subscription of the same path, with its own watcher
 * object, is not affected. The watcher given to ZooKeeper is a {@link ZooKeeperNodes.Relay}, detached on close, so
 * that even a watch that could not be removed keeps nothing of the registry.
 */
final class ZooKeeperWatch implements WatchHub.Subscription {
    private static final Logger LOG = LoggerFactory.getLogger(ZooKeeperWatch.class);
    private static final Object RESYNC = new Object();
    private static final Object CONNECTED = new Object();

    private final CuratorFramework client;
    private final ZooKeeperNodes nodes;
    private final String service;
    private final String servicePath;
    private final String childPrefix;
    private final WatchHub.Sink sink;
    private final ScheduledExecutorService worker;
    private final Backoff backoff = Backoff.defaults();
    private final ZooKeeperNodes.Relay relay = new ZooKeeperNodes.Relay(this::process);
    private final ConnectionStateListener connectionListener = (c, state) -> {
        if (state.isConnected()) {
            post(CONNECTED);
        }
    };

    private final ArrayDeque<Object> inbox = new ArrayDeque<>(); // guarded by this
    private boolean draining; // guarded by this: a drain is submitted or running
    private volatile boolean closed;

    // The worker's state: drains never overlap.
    private final Map<String, ServiceInstance> instances = new HashMap<>();
    private final Map<String, Optional<ServiceInstance>> changes = new LinkedHashMap<>(); // not pushed yet
    private final Map<String, Boolean> toRead = new LinkedHashMap<>(); // child -> read for the resync's load
    private ZooKeeper zk; // the handle of the current resync
    private long session; // of the current resync
    private boolean watchSet; // the current resync's watch is set: reconnections on its session reach it
    private int epoch;
    private int inFlight;
    private int loadPending; // the resync's reads not answered yet; -1 until the children are listed
    private boolean loading; // until the resync's reads are all answered; nothing is pushed meanwhile
    private boolean stalled; // the current resync failed; another one follows

    ZooKeeperWatch(CuratorFramework client, ZooKeeperNodes nodes, String service, WatchHub.Sink sink,
                   ScheduledExecutorService worker) {
        this.client = client;
        this.nodes = nodes;
        this.service = service;
        this.servicePath = nodes.servicePath(service);
        this.childPrefix = servicePath + "/";
        this.sink = sink;
        this.worker = worker;
    }

    ZooKeeperWatch start() {
        client.getConnectionStateListenable().addListener(connectionListener);
        post(RESYNC);
        return this;
    }

    /** Takes an event of the persistent watch, on ZooKeeper's event thread. */
    private void process(WatchedEvent event) {
        if (ZooKeeperNodes.Relay.isConnected(event)) {
            // Reconnected on the same session, in order with the events. (Curator's listener may not hear of it:
            // ZooKeeper drops a Disconnected event that follows a failed watch removal.)
            post(RESYNC);
            return;
        }
        String path = event.getPath();
        if (path == null || !path.startsWith(childPrefix)) {
            return; // the service node's own events add nothing to its children's
        }
        String child = path.substring(childPrefix.length());
        if (!child.isEmpty() && child.indexOf('/') < 0) { // deeper nodes are not instances
            post(new Change(event.getType(), child));
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            inbox.clear();
        }
        client.getConnectionStateListenable().removeListener(connectionListener);
        relay.detach();
        removeWatch();
    }

    private void removeWatch() {
        try {
            // local: removed from the client even if the server cannot be told; the reply is of no interest
            nodes.zooKeeper().removeWatches(servicePath, relay, Watcher.WatcherType.Any, true,
                    (rc, path, ctx) -> { }, null);
        } catch (Exception e) {
            LOG.debug("Removing the watch of {}: {}", servicePath, e.toString());
        }
    }

    private void post(Object item) {
        synchronized (this) {
            if (closed) {
                return;
            }
            inbox.add(item);
            if (draining) {
                return;
            }
            draining = true;
        }
        submit();
    }

    private void submit() {
        try {
            worker.execute(this::drain);
        } catch (RejectedExecutionException e) {
            synchronized (this) {
                draining = false; // the registry is shutting down
            }
        }
    }

    private void drain() {
        List<Object> batch;
        synchronized (this) {
            batch = new ArrayList<>(inbox);
            inbox.clear();
        }
        try {
            for (Object item : batch) {
                if (closed) {
                    return;
                }
                handle(item);
            }
            readMore();
            push();
        } catch (Throwable e) {
            LOG.error("Watch of {} failed; reading the service again", servicePath, e);
            stalled = true;
            resyncLater();
        } finally {
            boolean more;
            synchronized (this) {
                more = !inbox.isEmpty() && !closed;
                draining = more;
            }
            if (more) {
                submit(); // behind the worker's other tasks, rather than looping here
            }
        }
    }

    private void handle(Object item) {
        if (item == RESYNC) {
            resync();
        } else if (item == CONNECTED) {
            connected();
        } else if (item instanceof Change change) {
            changed(change);
        } else if (item instanceof Read read) {
            read(read);
        } else if (item instanceof Listed listed) {
            listed(listed);
        } else if (item instanceof WatchSet set && set.epoch == epoch) {
            if (set.rc == KeeperException.Code.OK.intValue()) {
                watchSet = true;
            } else {
                failed(set.rc);
            }
        }
    }

    /**
     * Curator reports a connection. A reconnection on the session of a set watch reaches the watch itself, in
     * order; this one matters for a new session (which has no watch of ours) and when the watch was never set.
     */
    private void connected() {
        long current;
        try {
            current = nodes.sessionId();
        } catch (Exception e) {
            current = 0;
        }
        if (zk == null || !watchSet || current != session) {
            resync();
        }
    }

    private void resync() {
        epoch++;
        instances.clear();
        changes.clear();
        toRead.clear();
        inFlight = 0;
        loadPending = -1;
        loading = true;
        stalled = false;
        watchSet = false;
        if (!nodes.isConnected()) {
            stalled = true; // the reconnection asks again
            return;
        }
        try {
            zk = nodes.zooKeeper();
            session = zk.getSessionId();
        } catch (Exception e) {
            LOG.warn("Watch of {} cannot reach the client: {}", servicePath, e.toString());
            stalled = true;
            resyncLater();
            return;
        }
        int current = epoch;
        // Set (again) before listing, so that no change after the listing goes unnoticed. The same watcher twice
        // is one watch; after a session expiry the new session has none.
        zk.addWatch(servicePath, relay, AddWatchMode.PERSISTENT_RECURSIVE,
                (rc, path, ctx) -> post(new WatchSet(current, rc)), null);
        if (closed) {
            removeWatch(); // close() ran meanwhile, and may have removed it before this was set
        }
        zk.getChildren(servicePath, false, (rc, path, ctx, children) -> post(new Listed(current, rc, children)),
                null);
    }

    private void changed(Change change) {
        switch (change.type) {
            case NodeDeleted:
                if (Boolean.TRUE.equals(toRead.remove(change.child))) {
                    loadPending--; // no need to read it any more
                }
                remove(change.child);
                break;
            case NodeCreated:
            case NodeDataChanged:
                toRead.putIfAbsent(change.child, false);
                break;
            default:
                break;
        }
    }

    private void listed(Listed listed) {
        if (listed.epoch != epoch) {
            return;
        }
        if (listed.rc == KeeperException.Code.OK.intValue()) {
            loadPending = 0;
            for (String child : listed.children) {
                if (!Boolean.TRUE.equals(toRead.put(child, true))) {
                    loadPending++;
                }
            }
        } else if (listed.rc == KeeperException.Code.NONODE.intValue()) {
            loadPending = 0; // no service node: no instance, until the watch sees it created
        } else {
            failed(listed.rc);
        }
    }

    private void read(Read read) {
        if (read.epoch != epoch) {
            return; // a reply to an earlier resync's read
        }
        inFlight--;
        if (read.load) {
            loadPending--;
        }
        if (read.rc == KeeperException.Code.OK.intValue()) {
            Optional<ServiceInstance> instance = nodes.decode(service, read.child, read.data);
            if (instance.isPresent()) {
                put(read.child, instance.get());
            } else {
                remove(read.child); // malformed: skipped, as if absent
            }
        } else if (read.rc == KeeperException.Code.NONODE.intValue()) {
            remove(read.child);
        } else {
            failed(read.rc);
        }
    }

    private void put(String child, ServiceInstance instance) {
        ServiceInstance old = instances.put(child, instance);
        if (!loading && !instance.equals(old)) {
            changes.put(child, Optional.of(instance));
        }
    }

    private void remove(String child) {
        if (instances.remove(child) != null && !loading) {
            changes.put(child, Optional.empty());
        }
    }

    private void failed(int rc) {
        stalled = true;
        KeeperException.Code code = KeeperException.Code.get(rc);
        if (code == KeeperException.Code.CONNECTIONLOSS || code == KeeperException.Code.SESSIONEXPIRED
                || code == KeeperException.Code.SESSIONMOVED) {
            LOG.debug("Watch of {} waits for the reconnection: {}", servicePath, code);
            return; // the reconnection resyncs
        }
        LOG.warn("Watch of {} failed ({}); reading it again after a backoff", servicePath, code);
        resyncLater();
    }

    private void resyncLater() {
        try {
            worker.schedule(() -> post(RESYNC), backoff.next().toNanos(), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // the registry is shutting down
        }
    }

    /** Sends queued reads while fewer than the bound are in flight. */
    private void readMore() {
        if (stalled) {
            return;
        }
        Iterator<Map.Entry<String, Boolean>> queued = toRead.entrySet().iterator();
        while (inFlight < ZooKeeperNodes.MAX_READS_IN_FLIGHT && queued.hasNext()) {
            Map.Entry<String, Boolean> next = queued.next();
            queued.remove();
            String child = next.getKey();
            boolean load = next.getValue();
            int current = epoch;
            inFlight++;
            zk.getData(childPrefix + child, false,
                    (rc, path, ctx, data, stat) -> post(new Read(current, child, load, rc, data)), null);
        }
    }

    private void push() {
        if (stalled || closed) {
            return;
        }
        if (loading) {
            if (loadPending == 0) {
                loading = false;
                backoff.reset();
                sink.reset(new HashMap<>(instances));
            }
            return;
        }
        if (changes.isEmpty()) {
            return;
        }
        Map<String, ServiceInstance> put = new HashMap<>();
        List<String> removed = new ArrayList<>();
        changes.forEach((child, instance) -> {
            if (instance.isPresent()) {
                put.put(child, instance.get());
            } else {
                removed.add(child);
            }
        });
        changes.clear();
        sink.apply(put, removed);
    }

    /** A child of the service node created, changed or deleted. */
    private record Change(Watcher.Event.EventType type, String child) {
    }

    /** The reply to a child's read. */
    private record Read(int epoch, String child, boolean load, int rc, byte[] data) {
    }

    /** The reply to listing the children. */
    private record Listed(int epoch, int rc, List<String> children) {
    }

    /** The reply to setting the watch. */
    private record WatchSet(int epoch, int rc) {
    }
}
