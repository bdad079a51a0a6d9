package io.roster;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * A continuous view of one service's instances.
 *
 * <ul>
 *   <li>The first {@link #next()} returns the current list, even when it is empty.</li>
 *   <li>Each later call blocks until the list differs from the one it last returned, then returns the newest full
 *       list. Intermediate states may be skipped, never reordered in time; a change that restores the list last
 *       returned does not wake the caller.</li>
 *   <li>A backend outage does not empty the list: the watcher keeps the last known list and catches up when the
 *       backend is back.</li>
 *   <li>{@link #close()} from any thread makes a waiting or later {@code next()} throw
 *       {@link WatcherClosedException}.</li>
 * </ul>
 *
 * <p>Lists are immutable and sorted by instance id. One thread at a time should call {@code next()}.
 */
public interface Watcher extends AutoCloseable {

    /**
     * Returns the name of the service watched.
     *
     * @return the service name
     */
    String service();

    /**
     * Waits for the first or the next list.
     *
     * @return the current full list of instances, possibly empty
     * @throws WatcherClosedException when the watcher is or gets closed
     * @throws InterruptedException when the calling thread is interrupted while waiting
     */
    List<ServiceInstance> next() throws InterruptedException;

    /**
     * Waits at most {@code timeout} for the first or the next list.
     *
     * @param timeout the longest wait; zero or negative only checks
     * @return the list, or empty when the timeout passed with no change
     * @throws InvalidOptionException when {@code timeout} is null
     * @throws WatcherClosedException when the watcher is or gets closed
     * @throws InterruptedException when the calling thread is interrupted while waiting
     */
    Optional<List<ServiceInstance>> next(Duration timeout) throws InterruptedException;

    /**
     * Stops watching. Idempotent; wakes a thread waiting in {@code next()}.
     */
    @Override
    void close();
}
