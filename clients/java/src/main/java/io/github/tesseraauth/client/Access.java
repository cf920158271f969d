package io.github.tesseraauth.client;

import java.util.List;

/**
 * What a request wants to touch: identifiers checked against the caller's namespace with
 * CheckNamespace, with an action for the audit trail. {@link #NONE} asks only for an active token.
 */
public record Access(List<String> identifiers, String action) {
  public static final Access NONE = new Access(List.of(), "");

  public static Access of(String action, String... identifiers) {
    return new Access(List.of(identifiers), action);
  }
}
