package io.github.tesseraauth.client;

/**
 * A token secret that does not print itself: {@link #toString()} hides it; {@link #expose()}
 * reveals it.
 */
public final class Secret {
  private final String value;

  Secret(String value) {
    this.value = value;
  }

  /** The secret itself, to send it on; never log it. */
  public String expose() {
    return value;
  }

  @Override
  public String toString() {
    return "Secret[redacted]";
  }
}
