package io.github.tesseraauth.client;

import java.util.Map;

/**
 * CheckNamespace's answer.
 *
 * @param active whether the token is active at all (when not, nothing is allowed)
 * @param allowed whether every identifier is allowed
 * @param results each identifier with its decision, in the order asked
 */
public record NamespaceDecision(
    boolean active,
    boolean allowed,
    String namespace,
    String tokenId,
    Map<String, Boolean> results) {}
