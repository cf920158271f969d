// Type-checked (not run) by run-tests.sh as a TypeScript consumer would compile against the
// package: the public surface is typed end to end, reasons are a closed union.
import {
  TesseraClient,
  TesseraError,
  tesseraMiddleware,
  tesseraServerInterceptor,
  type Identity,
  type Reason,
  type RevokeResult,
  type TokenSource,
} from "tessera-auth-client";

// A rotated token: a source may answer synchronously or with a promise.
const fromMemory: TokenSource = () => "tsr_svc_x";
const fromStore: TokenSource = async () => "tsr_svc_y";
export const rotating = [fromMemory, fromStore].map((tokenSource) => new TesseraClient("https://h:1", { tokenSource }));

export async function consumer(client: TesseraClient): Promise<Reason | undefined> {
  const info = await client.introspect("tsr_api_x", { peek: true });
  const who: Identity = info.identity;
  const revoked: RevokeResult = await client.revoke({ tokenIds: [who.tokenId] }, "why", { noWait: true });
  const count: bigint = revoked.revokedCount;
  void count;
  void tesseraMiddleware(client, { access: (req) => ({ identifiers: [req.url ?? ""] }) });
  void tesseraServerInterceptor(client);
  try {
    await client.checkNamespace("t", ["deploy.x"]);
  } catch (e) {
    if (e instanceof TesseraError) {
      // @ts-expect-error a reason outside the table does not type-check
      const bogus: Reason = "NOT_A_REASON";
      void bogus;
      return e.kind;
    }
  }
  return undefined;
}
