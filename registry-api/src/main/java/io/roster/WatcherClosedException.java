package io.roster;

/**
 * {@link Watcher#next()} was called on, or was waiting in, a watcher that has been closed.
 */
public class WatcherClosedException extends RegistryException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message which watcher was closed
     */
    public WatcherClosedException(String message) {
        super(message);
    }
}
