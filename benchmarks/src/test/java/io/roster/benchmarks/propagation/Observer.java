package io.roster.benchmarks.propagation;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;

/**
 * What one watching client has seen of one service, and the moment it saw it. A subclass keeps the client's view
 * (a Roster watcher's last list, a raw client's keys) and calls {@link #seen(long)} with the time a change
 * arrived, taken before any work of the harness; a {@link Sighting} asked for before a write then carries the time
 * the client first saw the state the write makes.
 */
abstract class Observer {
    private final List<Sighting> pending = new ArrayList<>();

    /**
     * Tells whether the view holds an instance. Called under this observer's lock, right after a change.
     *
     * @param id the instance id
     * @return whether the instance is in the view
     */
    protected abstract boolean holds(String id);

    /**
     * Returns the number of instances in the view. Called under this observer's lock.
     *
     * @return the size
     */
    protected abstract int size();

    /**
     * Reports a change of the view, after the subclass has applied it.
     *
     * @param at {@link System#nanoTime()} when the change reached the client
     */
    protected final synchronized void seen(long at) {
        for (Iterator<Sighting> it = pending.iterator(); it.hasNext(); ) {
            Sighting s = it.next();
            if (s.condition.test(this)) {
                s.complete(at);
                it.remove();
            }
        }
    }

    /**
     * Waits for the view to hold an instance.
     *
     * @param id the instance id
     * @return the sighting, to await after the write
     */
    final Sighting present(String id) {
        return expect(o -> o.holds(id));
    }

    /**
     * Waits for the view to lose an instance.
     *
     * @param id the instance id
     * @return the sighting, to await after the write
     */
    final Sighting absent(String id) {
        return expect(o -> !o.holds(id));
    }

    /**
     * Waits for the view to hold a number of instances.
     *
     * @param count the number
     * @return the sighting
     */
    final Sighting size(int count) {
        return expect(o -> o.size() == count);
    }

    private synchronized Sighting expect(Predicate<Observer> condition) {
        Sighting s = new Sighting(condition);
        if (condition.test(this)) {
            s.complete(System.nanoTime());
        } else {
            pending.add(s);
        }
        return s;
    }

    /** A state the observer is waiting for, and when it first saw it. */
    static final class Sighting {
        private final Predicate<Observer> condition;
        private final CountDownLatch done = new CountDownLatch(1);
        private volatile long at;

        private Sighting(Predicate<Observer> condition) {
            this.condition = condition;
        }

        private void complete(long nanos) {
            at = nanos;
            done.countDown();
        }

        /**
         * Waits until the state was seen.
         *
         * @param timeout the longest wait
         * @return {@link System#nanoTime()} when it was seen
         * @throws TimeoutException when it was not seen in time
         * @throws InterruptedException when interrupted
         */
        long await(Duration timeout) throws TimeoutException, InterruptedException {
            if (!done.await(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                throw new TimeoutException("not seen within " + timeout.toMillis() + " ms");
            }
            return at;
        }
    }
}
