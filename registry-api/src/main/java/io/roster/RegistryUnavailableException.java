package io.roster;

/**
 * The backend could not be reached, or did not answer in time. The message names the address tried.
 */
public class RegistryUnavailableException extends RegistryException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what failed and the address tried
     * @param cause the underlying failure, or {@code null}
     */
    public RegistryUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
