/**
 * Group commit of concurrent calls into one statement per batch: the SDK's micro-batcher
 * (`@kagzi/sdk/batcher`, the same queue the worker's Report batching uses). Its defaults are
 * the server's: 256 items a batch, one batch written at a time, and a failed batch of several
 * calls written again item by item, so one bad item fails only its own call.
 */
export { MicroBatcher as Batcher } from "@kagzi/sdk/batcher";
