/** The SDK's release, sent to the server when a worker registers. */
export const SDK_VERSION = "0.1.0";
