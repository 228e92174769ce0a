/**
 * The SDK warns on every Node 20 run about its own future releases; this package supports Node
 * 20.19+ with the SDK it pins, and the warning would bury the CLI's output. An explicit setting wins.
 * Called before any AWS client (KMS, DynamoDB) is made.
 */
export function quietAwsSdk(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}
