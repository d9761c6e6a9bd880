using System;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace SvdQuant.Native;

/// <summary>
/// The managed side of one native call that reports progress through a callback: a GCHandle to the
/// session is the callback's <c>user_data</c>; the callback hands each report to
/// <see cref="Deliver{TSession}"/>, which answers cancellation and keeps an exception of the caller's
/// handler instead of letting it unwind into native frames; <see cref="Check"/> then turns the call's
/// status into the outcome. Dispose frees the GCHandle.
/// </summary>
internal abstract unsafe class NativeProgressSession : IDisposable
{
    private readonly CancellationToken _cancellation;
    private GCHandle _self;

    protected NativeProgressSession(CancellationToken cancellation)
    {
        _cancellation = cancellation;
        _self = GCHandle.Alloc(this);
    }

    /// <summary>The callback's <c>user_data</c> for this session.</summary>
    public void* UserData => (void*)GCHandle.ToIntPtr(_self);

    /// <summary>The caller's progress handler threw: the call stopped and this is rethrown by <see cref="Check"/>.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>
    /// The native call's outcome: the handler's exception, <see cref="OperationCanceledException"/> when the
    /// token stopped it, else <see cref="SvdQuantException"/> for any other failure. Call it before any other
    /// native call on this thread, which would clear the error message.
    /// </summary>
    public void Check(svdq_status status)
    {
        if (Failure is not null)
        {
            ExceptionDispatchInfo.Capture(Failure).Throw();
        }

        if (status == svdq_status.SVDQ_ERROR_CANCELLED)
        {
            _cancellation.ThrowIfCancellationRequested();
        }

        NativeStatus.Check(status);
    }

    public void Dispose() => _self.Free();

    /// <summary>Runs <paramref name="report"/> on the session behind <paramref name="user"/>: 0 to go on, 1 to stop.</summary>
    protected static int Deliver<TSession>(void* user, Action<TSession> report)
        where TSession : NativeProgressSession
    {
        if (GCHandle.FromIntPtr((IntPtr)user).Target is not TSession self)
        {
            return 1;
        }

        try
        {
            report(self);
            return self._cancellation.IsCancellationRequested ? 1 : 0;
        }
        catch (Exception e)
        {
            // An exception must never unwind into native frames: stop, and rethrow it on return.
            self.Failure = e;
            return 1;
        }
    }
}
