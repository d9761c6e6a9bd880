using System;

namespace AOT;

/// <summary>
/// Marks a static method that native code calls through a function pointer (a reverse P/Invoke).
/// IL2CPP (Unity) compiles such a method ahead of time only when it carries an attribute of this name,
/// which it matches by name, so this is declared here as Unity declares its own (netstandard has none).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class MonoPInvokeCallbackAttribute : Attribute
{
    /// <summary>Marks a callback of the delegate type <paramref name="type"/>.</summary>
    public MonoPInvokeCallbackAttribute(Type type) => Type = type;

    /// <summary>The delegate type native code calls the method as.</summary>
    public Type Type { get; }
}
