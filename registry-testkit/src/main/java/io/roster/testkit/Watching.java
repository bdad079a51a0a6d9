package io.roster.testkit;

import io.roster.ServiceInstance;
import io.roster.Watcher;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.fail;

/**
 * Assertions on watchers that wait without sleeping: they block in {@link Watcher#next(Duration)}.
 */
public final class Watching {
    private Watching() {
    }

    /**
     * Waits until the watcher returns a list that satisfies a condition.
     *
     * @param watcher the watcher
     * @param bound the longest wait
     * @param what describes the condition for the failure message
     * @param condition the condition
     * @return the first list that satisfies it
     * @throws InterruptedException when interrupted
     */
    public static List<ServiceInstance> awaitList(Watcher watcher, Duration bound, String what,
                                                  Predicate<List<ServiceInstance>> condition)
            throws InterruptedException {
        long deadline = System.nanoTime() + bound.toNanos();
        List<ServiceInstance> last = null;
        while (true) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return fail("watcher on '%s' did not return %s within %s; last list: %s", watcher.service(), what,
                        bound, last == null ? "(none)" : ids(last));
            }
            Optional<List<ServiceInstance>> next = watcher.next(Duration.ofNanos(left));
            if (next.isPresent()) {
                last = next.get();
                if (condition.test(last)) {
                    return last;
                }
            }
        }
    }

    /**
     * Waits until the watcher returns a list whose ids are exactly the given ones.
     *
     * @param watcher the watcher
     * @param bound the longest wait
     * @param ids the expected ids
     * @return the list
     * @throws InterruptedException when interrupted
     */
    public static List<ServiceInstance> awaitIds(Watcher watcher, Duration bound, Set<String> ids)
            throws InterruptedException {
        return awaitList(watcher, bound, "ids " + new TreeSet<>(ids), list -> ids(list).equals(new TreeSet<>(ids)));
    }

    /**
     * Returns the ids of a list, sorted.
     *
     * @param instances the instances
     * @return their ids
     */
    public static Set<String> ids(List<ServiceInstance> instances) {
        return instances.stream().map(ServiceInstance::id).collect(Collectors.toCollection(TreeSet::new));
    }
}
