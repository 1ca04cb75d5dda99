// Package memtest measures what code allocates, for tests that check that
// refusing hostile input costs little memory whatever the input declares.
package memtest
