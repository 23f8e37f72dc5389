/**
 * Large message bodies in the integration's object store (written by the ingest writer as `Vrsky-Payload-Ref`):
 * read before the steps, removed once the message is delivered or filtered. A dead letter keeps its object (the
 * bucket's TTL covers the dead letters' retention).
 */
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { VrskyError } from "../../errors/errors.js";

export class Payloads {
  private store: Promise<ObjectStore> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly bucket: string,
  ) {}

  /** The body; VRS_PAYLOAD_MISSING when the object is gone, other errors (NATS) as they come (transient). */
  async read(ref: string): Promise<Uint8Array> {
    const data = await (await this.open()).getBlob(ref);
    if (data === null) {
      throw new VrskyError(
        "VRS_PAYLOAD_MISSING",
        `the body of the message (object '${ref}') is not in the object store`,
      );
    }
    return data;
  }

  /** Removes the object; a failure is left to the bucket's TTL. */
  async remove(ref: string): Promise<void> {
    await (await this.open()).delete(ref);
  }

  private open(): Promise<ObjectStore> {
    if (!this.store) {
      this.store = new Objm(this.nc).open(this.bucket);
      this.store.catch(() => (this.store = undefined));
    }
    return this.store;
  }
}
