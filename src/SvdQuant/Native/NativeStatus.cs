namespace SvdQuant.Native;

/// <summary>The one place that turns native status codes into exceptions.</summary>
internal static unsafe class NativeStatus
{
    public static void Check(svdq_status status)
    {
        if (status != svdq_status.SVDQ_OK)
        {
            throw Failure(status);
        }
    }

    private static SvdQuantException Failure(svdq_status status)
    {
        var code = (StatusCode)(int)status;
        // The message is per thread and describes the call that just failed on this thread.
        string message = NativeText.FromUtf8(NativeMethods.svdq_last_error_message());
        if (message.Length == 0)
        {
            message = $"The native engine failed with status {code}.";
        }

        if (code == StatusCode.Unsupported && message.Contains(NoCudaBackend))
        {
            message += $". For .NET, add the NuGet package {NativePlatform.CudaPackage}, which carries it";
        }

        return new SvdQuantException(code, message);
    }

    // The engine's refusal when libsvdquant_cuda is not beside it (plugin_library.cpp): the fix is a package.
    private const string NoCudaBackend = "has no CUDA backend";
}
