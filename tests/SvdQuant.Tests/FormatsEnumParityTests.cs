using System;
using NUnit.Framework;
using SvdQuant.Models;
using SvdQuant.Formats;
using SvdQuant.Native;

namespace SvdQuant.Tests;

/// <summary>The checkpoint enums carry the native values under the same names, checked as <see cref="EnumParityTests"/> does.</summary>
public sealed class FormatsEnumParityTests
{
    [TestCase(typeof(TensorDType), typeof(svdq_dtype), "SVDQ_DTYPE_")]
    [TestCase(typeof(CheckpointFlavour), typeof(svdq_checkpoint_flavour), "SVDQ_FLAVOUR_")]
    [TestCase(typeof(CheckpointKeys), typeof(svdq_checkpoint_keys), "SVDQ_KEYS_")]
    public void ManagedEnum_MirrorsNativeEnum(Type managed, Type native, string prefix) =>
        new EnumParityTests().ManagedEnum_MirrorsNativeEnum(managed, native, prefix, null);
}
