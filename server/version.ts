/** This server's release, as published. */
export const SERVER_VERSION = "0.1.0";
/** The wire API it speaks. */
export const API_VERSION = "v1";
