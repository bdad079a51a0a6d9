package io.roster;

/**
 * Base of every error Roster raises. Unchecked, like the rest of the API: registration and discovery failures are
 * rarely recoverable at the call site, and the subclasses say what went wrong.
 */
public class RegistryException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception with a message.
     *
     * @param message what went wrong; never contains secrets
     */
    public RegistryException(String message) {
        super(message);
    }

    /**
     * Creates an exception with a message and a cause.
     *
     * @param message what went wrong; never contains secrets
     * @param cause the underlying failure
     */
    public RegistryException(String message, Throwable cause) {
        super(message, cause);
    }
}
