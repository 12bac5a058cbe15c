import "aws-sdk-client-mock-vitest/extend";

// Tests run on this machine's Node 20; the Lambda runtime is nodejs22.x. The SDK's notice about its own
// future Node support would otherwise repeat in every test process's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
