package io.github.tesseraauth.client;

import java.util.List;

/**
 * Revoke's answer.
 *
 * @param revokedCount tokens newly revoked (the target and its descendants)
 * @param everywhere true when every follower of the revocation feed acknowledged it or its lease
 *     ran out: no cache anywhere admits these tokens any more (false with noWait)
 * @param acknowledged followers that acknowledged
 * @param lapsed followers whose lease ran out instead, as they named themselves
 */
public record RevokeResult(
    long revokedCount, boolean everywhere, int acknowledged, List<String> lapsed) {}
