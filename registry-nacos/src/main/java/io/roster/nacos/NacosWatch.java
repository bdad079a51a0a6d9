package io.roster.nacos;

import com.alibaba.nacos.api.exception.NacosException;
import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.api.naming.listener.AbstractEventListener;
import com.alibaba.nacos.api.naming.listener.Event;
import com.alibaba.nacos.api.naming.pojo.Instance;
import io.roster.ServiceInstance;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

/**
 * Follows one requested name for watchers: subscribes to each of its Nacos services through nacos-client, and on
 * every change event re-reads all of them from nacos-client's cache, merges them and pushes the full list.
 *
 * <p>nacos-client keeps the subscriptions alive: it re-subscribes after a reconnect and the server pushes the
 * current list, which raises an event when it differs. Events are only a trigger; the lists come from the cache,
 * read on this registry's own thread (nacos-client's event thread is shared by every client in the JVM) and under
 * this object's lock, so that pushes reach the sink in the order they were read.
 *
 * <p>While the connection is recovering (down, or back from a loss for less than the grace period), a list never
 * loses instances: a restarted server answers the re-subscription with what it holds before the other clients
 * have registered again, and nacos-client's redo needs up to its redo delay (3 s) after each of them reconnected.
 * Instances missing then are kept from the last list; the registry refreshes every watch when the grace period
 * ends, which applies removals that were real. A removal while connected (scale to zero included) passes at once.
 */
final class NacosWatch implements WatchHub.Subscription {
    private static final Logger LOG = LoggerFactory.getLogger(NacosWatch.class);

    private final NamingService naming;
    private final String group;
    private final NacosLayout layout;
    private final UnaryOperator<List<Instance>> visible;
    private final String name;
    private final Consumer<List<ServiceInstance>> sink;
    private final List<NacosLayout.Target> targets;
    private final AbstractEventListener listener;
    private final List<NacosLayout.Target> subscribed = new ArrayList<>();
    private final BooleanSupplier recovering;
    private Map<String, ServiceInstance> previous = Map.of(); // guarded by this
    private boolean closed; // guarded by this

    private NacosWatch(NamingService naming, String group, NacosLayout layout, UnaryOperator<List<Instance>> visible,
                       BooleanSupplier recovering, Executor executor, String name,
                       Consumer<List<ServiceInstance>> sink) {
        this.naming = naming;
        this.recovering = recovering;
        this.group = group;
        this.layout = layout;
        this.visible = visible;
        this.name = name;
        this.sink = sink;
        this.targets = layout.targets(name);
        this.listener = new AbstractEventListener() {
            @Override
            public Executor getExecutor() {
                return executor;
            }

            @Override
            public void onEvent(Event event) {
                refresh();
            }
        };
    }

    /**
     * Subscribes and pushes the first list.
     *
     * @param recovering tells whether the connection is recovering, when lists must not lose instances
     * @return the open subscription
     * @throws NacosException when a subscription fails; those made are undone
     */
    static NacosWatch open(NamingService naming, String group, NacosLayout layout,
                           UnaryOperator<List<Instance>> visible, BooleanSupplier recovering, Executor executor,
                           String name, Consumer<List<ServiceInstance>> sink) throws NacosException {
        NacosWatch watch = new NacosWatch(naming, group, layout, visible, recovering, executor, name, sink);
        try {
            for (NacosLayout.Target target : watch.targets) {
                watch.subscribed.add(target); // first: a failed subscribe leaves its listener registered
                naming.subscribe(target.service(), group, watch.listener);
            }
            watch.refresh();
        } catch (NacosException | RuntimeException e) {
            watch.close();
            throw e;
        }
        return watch;
    }

    /** Reads the lists from nacos-client's cache and pushes the merged list. */
    synchronized void refresh() {
        if (closed) {
            return;
        }
        Map<NacosLayout.Target, List<Instance>> lists = new LinkedHashMap<>();
        try {
            for (NacosLayout.Target target : targets) {
                // From nacos-client's cache: the service is subscribed, so this makes no request.
                lists.put(target, visible.apply(naming.getAllInstances(target.service(), group, List.of(), true)));
            }
        } catch (NacosException e) {
            LOG.debug("Watch of '{}': cannot read the cache now, waiting for the next event: {}", name,
                    e.toString());
            return;
        }
        List<ServiceInstance> merged = layout.merge(name, lists, previous);
        Map<String, ServiceInstance> byId = new HashMap<>();
        merged.forEach(i -> byId.put(i.id(), i));
        if (recovering.getAsBoolean()) {
            previous.forEach((id, last) -> {
                if (byId.putIfAbsent(id, last) == null) {
                    merged.add(last); // perhaps not registered again yet: kept until the grace period ends
                }
            });
        }
        previous = byId;
        sink.accept(merged);
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        for (NacosLayout.Target target : subscribed) {
            try {
                naming.unsubscribe(target.service(), group, listener);
            } catch (NacosException | RuntimeException e) {
                // nacos-client retries the unsubscription itself after a reconnect.
                LOG.debug("Unsubscribing from '{}' failed: {}", target.service(), e.toString());
            }
        }
    }
}
