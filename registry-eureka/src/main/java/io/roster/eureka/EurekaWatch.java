package io.roster.eureka;

import io.roster.RegistryException;
import io.roster.ServiceInstance;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Follows one service by polling, since Eureka has no push: {@code GET apps/<APP>} at once and then every refresh
 * interval, on the registry's refresh thread. Only a list that differs from the last one pushed goes to the sink;
 * a failed poll pushes nothing, so watchers keep the last list until the server answers again.
 *
 * <p>One GET per watched service rather than the registry-wide delta endpoint: a client watches a handful of
 * services, and each answer is that service alone, where the delta carries every change in the registry.
 */
final class EurekaWatch implements WatchHub.Subscription {
    private static final Logger LOG = LoggerFactory.getLogger(EurekaWatch.class);

    private final String service;
    private final Function<String, List<ServiceInstance>> fetch;
    private final Consumer<List<ServiceInstance>> sink;
    private final ScheduledFuture<?> task;
    private List<ServiceInstance> last; // confined to the refresh thread
    private boolean failing; // confined to the refresh thread

    /**
     * Starts polling.
     *
     * @param service the service
     * @param fetch reads the service's current list from the server, sorted; throws when unreachable
     * @param sink receives each changed list
     * @param scheduler the refresh thread
     * @param refresh the interval between polls
     */
    EurekaWatch(String service, Function<String, List<ServiceInstance>> fetch, Consumer<List<ServiceInstance>> sink,
                ScheduledExecutorService scheduler, Duration refresh) {
        this.service = service;
        this.fetch = fetch;
        this.sink = sink;
        this.task = scheduler.scheduleWithFixedDelay(this::poll, 0, refresh.toNanos(), TimeUnit.NANOSECONDS);
    }

    private void poll() {
        List<ServiceInstance> now;
        try {
            now = fetch.apply(service);
        } catch (RegistryException e) {
            if (!failing) {
                LOG.warn("Watching '{}': eureka unavailable, keeping the last list until it answers: {}", service,
                        e.getMessage());
                failing = true;
            }
            return;
        } catch (RuntimeException e) {
            // Never let the periodic task die: a scheduled task that throws is not run again.
            LOG.warn("Watching '{}': refresh failed: {}", service, e.toString());
            return;
        }
        if (failing) {
            LOG.info("Watching '{}': eureka answers again", service);
            failing = false;
        }
        if (!now.equals(last)) {
            last = now;
            sink.accept(now);
        }
    }

    @Override
    public void close() {
        task.cancel(false);
    }
}
